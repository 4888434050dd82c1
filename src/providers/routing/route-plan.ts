import { ValidationError } from '../../domain/errors.js';

export interface RouteRule {
  /** Each criterion applies only when present; all present ones must match. */
  match: { country?: string[]; prefix?: string[]; sms_type?: string[] };
  providers: string[];
  strategy: 'priority' | 'least_cost';
}

export interface RoutingFile {
  routes: RouteRule[];
  budgets: Record<string, { per_second: number }>;
}

export interface ProviderDescription {
  name: string;
  enabled: boolean;
  messageTypes: readonly string[];
}

export interface Destination {
  /** With its `+`. */
  e164: string;
  country: string | undefined;
  smsType: string;
  messageType: string;
}

/** Price of one segment for a provider and country, undefined when the table has none. */
export type PriceOf = (provider: string, country: string | undefined) => number | undefined;

export interface RoutePlan {
  providers: string[];
  /** Index in the file's routes of the rule that chose them. */
  rule?: number;
}

/**
 * The ordered providers for a message: the request's `provider` alone if given; else the first matching
 * rule with an eligible provider, ordered by its strategy; else [defaultProvider]; else every eligible
 * provider, real ones before the simulator. Throws a ValidationError saying why nothing is eligible.
 */
export function planRoute(
  dest: Destination,
  requested: string | undefined,
  file: RoutingFile | undefined,
  providers: ProviderDescription[],
  defaultProvider: string | undefined,
  priceOf: PriceOf,
): RoutePlan {
  if (requested !== undefined) return { providers: [checkRequested(requested, dest.messageType, providers)] };

  const eligible = (name: string) => providers.some((p) => p.name === name && p.enabled && p.messageTypes.includes(dest.messageType));

  const rules = file?.routes ?? [];
  for (let i = 0; i < rules.length; i++) {
    if (!matches(rules[i], dest)) continue;
    // A rule whose providers are all down or unable falls through rather than failing the message.
    const chosen = [...new Set(rules[i].providers)].filter(eligible);
    if (chosen.length === 0) continue;
    return { providers: rules[i].strategy === 'least_cost' ? byPrice(chosen, dest.country, priceOf) : chosen, rule: i };
  }

  if (defaultProvider !== undefined && eligible(defaultProvider)) return { providers: [defaultProvider] };

  const all = providers.filter((p) => eligible(p.name)).map((p) => p.name);
  // The simulator is the fallback only when nothing real can take the message.
  const ordered = [...new Set([...all.filter((n) => n !== 'simulator'), ...all.filter((n) => n === 'simulator')])];
  if (ordered.length === 0) {
    const enabled = providers.filter((p) => p.enabled).map((p) => p.name);
    throw new ValidationError(`no enabled provider can send ${dest.messageType} messages`, [
      {
        field: 'message_type',
        message: enabled.length === 0
          ? 'no provider is enabled on this gateway'
          : `no enabled provider supports ${dest.messageType}; enabled: ${enabled.join(', ')}`,
      },
    ]);
  }
  return { providers: ordered };
}

function checkRequested(requested: string, messageType: string, providers: ProviderDescription[]): string {
  const provider = providers.find((p) => p.name === requested);
  if (!provider || !provider.enabled) {
    const enabled = providers.filter((p) => p.enabled).map((p) => p.name);
    throw new ValidationError(`provider ${requested} is not enabled`, [
      {
        field: 'provider',
        message: `${requested} is ${provider ? 'not configured on this gateway' : 'not a known provider'}; enabled: ${enabled.join(', ') || 'none'}`,
      },
    ]);
  }
  if (!provider.messageTypes.includes(messageType)) {
    throw new ValidationError(`provider ${requested} cannot send ${messageType} messages`, [
      { field: 'message_type', message: `${requested} does not support ${messageType}; it sends ${provider.messageTypes.join(', ')}` },
    ]);
  }
  return requested;
}

function matches(rule: RouteRule, dest: Destination): boolean {
  const { country, prefix, sms_type: smsType } = rule.match;
  if (country !== undefined) {
    const destCountry = dest.country?.toUpperCase();
    if (destCountry === undefined || !country.some((c) => c.toUpperCase() === destCountry)) return false;
  }
  if (prefix !== undefined && !prefix.some((p) => dest.e164.startsWith(p))) return false;
  if (smsType !== undefined && !smsType.includes(dest.smsType)) return false;
  return true;
}

/** Cheapest first; unknown prices last, since a guess could be dearer; ties keep the file's order. */
function byPrice(names: string[], country: string | undefined, priceOf: PriceOf): string[] {
  const priced = names.map((name, index) => ({ name, index, price: priceOf(name, country) }));
  priced.sort((a, b) => {
    if (a.price === undefined || b.price === undefined) {
      return a.price === b.price ? a.index - b.index : a.price === undefined ? 1 : -1;
    }
    return a.price - b.price || a.index - b.index;
  });
  return priced.map((p) => p.name);
}
