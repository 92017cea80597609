/**
 * The part of shared a command-line tool needs to start: errors and exit codes, `runCli`, progress.
 * A lighter entry point than the package root, which also loads the SSH layer (ssh2) and lock files.
 */
export * from './errors.js';
export * from './cli.js';
export * from './progress.js';
export * from './durable-write.js';
export * from './open-files.js';
export * from './limiter.js';
export * from './interrupt.js';
export * from './durations.js';
export * from './server-address.js';
