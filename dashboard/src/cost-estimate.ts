import { useQueries, useQuery } from '@tanstack/react-query';
import { api, type ProviderItem } from './api/client';
import { pricePerSegment, roundCost } from './sms-preview';
import { useSession } from './session';

/** Numbers whose country is looked up for the estimate; beyond, the provider's `default` price is used. */
const LOOKUPS = 50;

/** The provider a message naming none would most likely go to: DEFAULT_PROVIDER, else real providers before the simulator. */
export function likelyProvider(providers: ProviderItem[] | undefined): string | undefined {
  const enabled = (providers ?? []).filter((p) => p.enabled);
  return (enabled.find((p) => p.default) ?? enabled.find((p) => p.name !== 'simulator') ?? enabled[0])?.name;
}

/**
 * Cost of sending `segments` to each number through `provider`, from the gateway's price table and
 * each number's country as the gateway reads it (GET /api/phone/validate). An estimate: a routing
 * rule may pick another provider, and the provider may report its own price.
 */
export function useCostEstimate(recipients: Array<{ number: string; segments: number }>, provider: string | undefined) {
  const { can } = useSession();
  const readable = can('read');
  const prices = useQuery({ queryKey: ['prices'], queryFn: () => api.get('/api/prices'), staleTime: Infinity, enabled: readable });
  const unique = [...new Set(recipients.map((r) => r.number))].slice(0, LOOKUPS);
  const countries = useQueries({
    queries: unique.map((number) => ({
      queryKey: ['phone', number],
      queryFn: () => api.get('/api/phone/validate/{phone_number}', { params: { phone_number: number } }),
      staleTime: Infinity,
      enabled: readable && number.length >= 4,
    })),
  });
  if (!prices.data || !provider) return undefined;
  const countryOf = new Map(unique.map((number, i) => [number, countries[i]?.data]));
  let cost = 0;
  let invalid = 0;
  for (const r of recipients) {
    const report = countryOf.get(r.number);
    if (report && !report.valid) invalid++;
    cost += pricePerSegment(prices.data, provider, report?.country_code ?? undefined) * r.segments;
  }
  return { cost: roundCost(cost), currency: prices.data.currency, invalid, provider };
}
