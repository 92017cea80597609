/** `dnslog db init`: creates or migrates the schema. */
import { writeJson, type CliIo } from '@toolbox/shared';
import { openStore } from './open-store.js';

export async function runDbInit(db: string, json: boolean, io: CliIo): Promise<void> {
  const store = openStore(db, io.env);
  try {
    const status = await store.init();
    if (json) writeJson(io.stdout, { db: store.description, ...status });
    else io.stdout.write(`${store.description}: schema version ${status.version} ${status.created ? 'created' : 'up to date'}\n`);
  } finally {
    await store.close();
  }
}
