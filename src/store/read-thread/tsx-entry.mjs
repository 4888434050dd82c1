// The read thread when the gateway runs from its TypeScript sources (`npm run dev`, tests):
// the parent's tsx loader does not reach a worker thread, so the thread registers its own.
import { register } from 'tsx/esm/api';

register();
await import('./entry.ts');
