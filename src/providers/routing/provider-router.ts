import type { ProviderName } from '../config.js';
import { ValidationError } from '../domain/errors.js';
import type { MessageType } from '../domain/encoding.js';
import type { SmsProvider } from './provider.js';

/** Picks the provider for a message: the one named (it must be configured), else the default. */
export class ProviderRouter {
  private readonly byName = new Map<ProviderName, SmsProvider>();

  constructor(providers: SmsProvider[], private readonly preferred: ProviderName | undefined) {
    for (const p of providers) this.byName.set(p.name, p);
    if (preferred !== undefined && !this.byName.has(preferred)) {
      throw new Error(`DEFAULT_PROVIDER=${preferred} has no credentials configured`);
    }
  }

  get(name: string): SmsProvider | undefined {
    return this.byName.get(name as ProviderName);
  }

  all(): SmsProvider[] {
    return [...this.byName.values()];
  }

  choose(requested: ProviderName | undefined, messageType: MessageType): SmsProvider {
    if (requested !== undefined) {
      const provider = this.byName.get(requested);
      if (!provider) {
        throw new ValidationError(`provider ${requested} is not configured`, [
          { field: 'provider', message: `${requested} has no credentials configured on this gateway; configured: ${[...this.byName.keys()].join(', ')}` },
        ]);
      }
      if (!provider.capabilities.messageTypes.includes(messageType)) {
        throw new ValidationError(`provider ${requested} cannot send ${messageType} messages`, [
          { field: 'message_type', message: `${requested} does not support ${messageType}` },
        ]);
      }
      return provider;
    }
    const candidates = this.preferred ? [this.byName.get(this.preferred)!, ...this.byName.values()] : [...this.byName.values()];
    // Real providers first: the simulator is the fallback only when nothing else is configured.
    const ordered = this.preferred ? candidates : [...candidates.filter((p) => p.name !== 'simulator'), ...candidates.filter((p) => p.name === 'simulator')];
    const provider = ordered.find((p) => p.capabilities.messageTypes.includes(messageType));
    if (!provider) {
      throw new ValidationError(`no configured provider can send ${messageType} messages`, [{ field: 'message_type', message: `no provider supports ${messageType}` }]);
    }
    return provider;
  }
}
