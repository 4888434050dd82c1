import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ProviderHealth } from '../services/provider-health.js';

/** What the API thread asks of the dispatch thread. */
export type ToDispatchThread =
  | { type: 'stop' }
  | { type: 'metrics'; id: number }
  | { type: 'providers'; id: number };

/** What the dispatch thread answers or announces. */
export type FromDispatchThread =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'stopped'; inTime: boolean }
  | { type: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { type: 'providers'; id: number; providers: Record<string, ProviderHealth> };
