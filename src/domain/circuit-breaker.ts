export type CircuitState = 'closed' | 'open' | 'half_open';

/** `local`: this breaker's own counts moved it; `shared`: another process's breaker did (see SharedCircuits). */
export type CircuitChangeOrigin = 'local' | 'shared';

export interface CircuitSettings {
  /** Consecutive surely-not-taken failures that open the circuit. */
  failureThreshold: number;
  coolDownMs: number;
}

/**
 * Stops sending to a provider that keeps failing, then lets one probe through after a cool-down.
 * Only surely-not-taken failures count: a rejection is the message's fault and an unknown outcome
 * proves nothing, so callers report neither.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeAt: number | undefined;

  constructor(
    private readonly settings: CircuitSettings,
    private readonly onChange?: (from: CircuitState, to: CircuitState, origin: CircuitChangeOrigin) => void,
  ) {
    if (!(settings.failureThreshold >= 1)) throw new RangeError(`failureThreshold must be at least 1, got ${settings.failureThreshold}`);
    if (!(settings.coolDownMs >= 0)) throw new RangeError(`coolDownMs must not be negative, got ${settings.coolDownMs}`);
  }

  state(now: number): CircuitState {
    if (this.current === 'open' && now - this.openedAt >= this.settings.coolDownMs) this.move('half_open');
    return this.current;
  }

  /** How many sends may go now: Infinity when closed, 1 (a single probe, once) when half_open and no probe in flight, 0 otherwise. */
  allowance(now: number): number {
    switch (this.state(now)) {
      case 'closed':
        return Infinity;
      case 'open':
        return 0;
      case 'half_open':
        return this.probeInFlight(now) ? 0 : 1;
    }
  }

  /** When the circuit last opened (epoch ms): other processes open theirs from the same moment. */
  get openedSince(): number {
    return this.openedAt;
  }

  /**
   * Another process opened its circuit at `openedAt`: open this one from then, so every process's
   * cool-down ends together. An older opening than this breaker's own changes nothing.
   */
  openedElsewhere(openedAt: number, now: number): void {
    if (this.state(now) === 'open' && openedAt <= this.openedAt) return;
    if (now - openedAt >= this.settings.coolDownMs) return;
    this.openedAt = openedAt;
    this.failures = 0;
    this.move('open', 'shared');
  }

  /** Another process's probe got through: the provider is back for this process too. */
  closedElsewhere(now: number): void {
    this.failures = 0;
    if (this.state(now) !== 'closed') this.move('closed', 'shared');
  }

  probeStarted(now: number): void {
    if (this.state(now) === 'half_open') this.probeAt = now;
  }

  success(now: number): void {
    this.failures = 0;
    // A late success while open is from a send that started before the circuit opened: the probe, not
    // an old answer, decides whether the provider is back.
    if (this.state(now) === 'half_open') this.move('closed');
  }

  failure(now: number): void {
    const state = this.state(now);
    if (state === 'half_open') {
      this.open(now);
      return;
    }
    // Failures of sends already in flight when the circuit opened must not stretch its cool-down.
    if (state === 'open') return;
    this.failures++;
    if (this.failures >= this.settings.failureThreshold) this.open(now);
  }

  /**
   * A probe whose outcome is never reported (rejected or unknown: the caller reports neither) would
   * otherwise hold the circuit half-open with nothing allowed forever; after a cool-down it counts as gone.
   */
  private probeInFlight(now: number): boolean {
    return this.probeAt !== undefined && now - this.probeAt < Math.max(1, this.settings.coolDownMs);
  }

  private open(now: number): void {
    this.openedAt = now;
    this.failures = 0;
    this.move('open');
  }

  private move(to: CircuitState, origin: CircuitChangeOrigin = 'local'): void {
    const from = this.current;
    this.probeAt = undefined;
    if (from === to) return;
    this.current = to;
    this.onChange?.(from, to, origin);
  }
}
