import { parseArgs } from 'node:util';
import { exitOnConfigError, loadConfig } from '../config.js';
import { SCOPES, type Scope } from '../domain/api-keys.js';
import { ApiKeyService } from '../services/api-key-service.js';
import { createStore } from '../store/database.js';
import { loadGatewayKeys } from '../store/key-file.js';
import { migrate } from '../store/migrations.js';

const USAGE = `usage:
  npm run apikey -- create --name NAME --scopes ${SCOPES.join(',')}
  npm run apikey -- list
  npm run apikey -- revoke KEY_ID`;

/** `npm run apikey`: keys for the gateway's database, made without the API (the first admin key comes from here). */
async function main(): Promise<number> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, scopes: { type: 'string' } } });
  const [command, id] = positionals;
  const config = await exitOnConfigError(() => loadConfig());
  const store = createStore(config.databaseUrl, config.sqliteDurability, config.databasePool);
  try {
    await migrate(store.db, store.dialect);
    const { keys } = await loadGatewayKeys(store.db, { otpHashKey: config.otp.hashKey, messageEncryptionKey: config.messageEncryptionKey }, config.keysFile);
    const service = new ApiKeyService(store.db, keys.otpHashKey);
    if (command === 'create') {
      const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (!values.name || scopes.length === 0 || unknown.length > 0) {
        console.error(unknown.length > 0 ? `unknown scopes: ${unknown.join(', ')}\n${USAGE}` : USAGE);
        return 64;
      }
      const created = await service.create(values.name, scopes as Scope[]);
      console.log(`id: ${created.id}\nname: ${created.name}\nscopes: ${created.scopes.join(',')}\naccount_sid: ${created.account_sid}\nkey (shown once, keep it safe):`);
      console.log(created.key);
      return 0;
    }
    if (command === 'list') {
      for (const k of (await service.list()).items) {
        console.log([k.id, k.name, k.scopes.join(','), k.account_sid, `created ${k.created_at}`, `last used ${k.last_used_at ?? 'never'}`, k.revoked_at ? `REVOKED ${k.revoked_at}` : 'active'].join('\t'));
      }
      return 0;
    }
    if (command === 'revoke' && id) {
      const revoked = await service.revoke(id);
      console.log(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revoked_at}`);
      return 0;
    }
    console.error(USAGE);
    return 64;
  } finally {
    await store.close();
  }
}

process.exitCode = await main();
