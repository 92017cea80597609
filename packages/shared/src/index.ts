export * from './errors.js';
export * from './cli.js';
export * from './progress.js';
export * from './lock.js';
export * from './ssh.js';
export * from './shell-quote.js';
export * from './memory-io.js';
export * from './durable-write.js';
