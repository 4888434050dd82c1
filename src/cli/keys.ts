import { exitOnConfigError, loadConfig } from '../config.js';
import { FieldCipher } from '../domain/field-cipher.js';
import { createStore } from '../store/database.js';
import { loadGatewayKeys, messageKeyRingFromFile, rotateMessageKey } from '../store/key-file.js';
import { migrate } from '../store/migrations.js';
import { reencryptAll } from '../store/reencrypt.js';

const USAGE = `usage:
  npm run keys -- rotate      new message encryption key in KEYS_FILE, then re-encrypt everything under it
  npm run keys -- reencrypt   re-encrypt what is not yet under the current key (after changing MESSAGE_ENCRYPTION_KEY)`;

/**
 * `npm run keys`: message key rotation without downtime. Running gateways keep reading with the
 * old key (kept in the file as a previous key) and switch to the new one for writing within
 * seconds; this process re-encrypts the stored values meanwhile.
 */
async function main(): Promise<number> {
  const command = process.argv[2];
  if (command !== 'rotate' && command !== 'reencrypt') {
    console.error(USAGE);
    return 64;
  }
  const config = await exitOnConfigError(() => loadConfig());
  if (command === 'rotate' && config.messageEncryptionKey !== undefined) {
    console.error('MESSAGE_ENCRYPTION_KEY is set, so the key is not in KEYS_FILE: to rotate, move the old key to MESSAGE_ENCRYPTION_PREVIOUS_KEYS, '
      + 'set a new MESSAGE_ENCRYPTION_KEY, restart the gateways, then run `npm run keys -- reencrypt`.');
    return 64;
  }
  const store = createStore(config.databaseUrl, config.sqliteDurability, config.databasePool);
  try {
    await migrate(store.db, store.dialect);
    const { keys } = await loadGatewayKeys(store.db, {
      otpHashKey: config.otp.hashKey, messageEncryptionKey: config.messageEncryptionKey, previousMessageKeys: config.previousMessageEncryptionKeys,
    }, config.keysFile);
    let ring = { current: keys.messageEncryptionKey, previous: keys.previousMessageKeys };
    if (command === 'rotate') {
      rotateMessageKey(config.keysFile);
      ring = messageKeyRingFromFile(config.keysFile)!;
    }
    const cipher = new FieldCipher(ring);
    console.log(`re-encrypting under key ${cipher.currentKeyId}…`);
    const counts = await reencryptAll(store.db, cipher);
    for (const [column, n] of Object.entries(counts)) console.log(`${column}: ${n} re-encrypted`);
    console.log(command === 'rotate'
      ? `done. The old key stays in ${config.keysFile} as a previous key, for values written by gateways that had not yet switched; run \`npm run keys -- reencrypt\` again later to catch those.`
      : 'done.');
    return 0;
  } finally {
    await store.close();
  }
}

process.exitCode = await main();
