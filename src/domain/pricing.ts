/**
 * Price per segment by provider and destination country. The operator edits the table
 * (PRICE_TABLE_PATH); `default` covers countries the table does not list.
 */
export interface PriceTable {
  currency: string;
  providers: Record<string, Record<string, number>>;
}

export function pricePerSegment(table: PriceTable, provider: string, country: string | undefined): number {
  const prices = table.providers[provider];
  if (!prices) return 0;
  return (country !== undefined ? prices[country] : undefined) ?? prices.default ?? 0;
}

/** Rounded to 1/10,000 of the currency unit, like the providers' own price fields. */
export function messageCost(table: PriceTable, provider: string, country: string | undefined, segments: number): number {
  return roundCost(pricePerSegment(table, provider, country) * segments);
}

export function roundCost(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
