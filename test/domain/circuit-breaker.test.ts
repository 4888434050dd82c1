import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitState } from '../../src/domain/circuit-breaker.js';

function breaker(failureThreshold = 3, coolDownMs = 1000) {
  const changes: [CircuitState, CircuitState][] = [];
  const circuit = new CircuitBreaker({ failureThreshold, coolDownMs }, (from, to) => changes.push([from, to]));
  return { circuit, changes };
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and lets everything through', () => {
    const { circuit, changes } = breaker();
    circuit.failure(0);
    circuit.failure(1);
    expect(circuit.state(2)).toBe('closed');
    expect(circuit.allowance(2)).toBe(Infinity);
    expect(changes).toEqual([]);
  });

  it('opens after N consecutive failures', () => {
    const { circuit, changes } = breaker();
    circuit.failure(0);
    circuit.failure(1);
    circuit.failure(2);
    expect(circuit.state(3)).toBe('open');
    expect(circuit.allowance(3)).toBe(0);
    expect(changes).toEqual([['closed', 'open']]);
  });

  it('a success in between resets the count', () => {
    const { circuit } = breaker();
    circuit.failure(0);
    circuit.failure(1);
    circuit.success(2);
    circuit.failure(3);
    circuit.failure(4);
    expect(circuit.state(5)).toBe('closed');
    circuit.failure(6);
    expect(circuit.state(7)).toBe('open');
  });

  it('turns half-open once the cool-down has passed, and allows exactly one probe', () => {
    const { circuit, changes } = breaker(1, 1000);
    circuit.failure(0);
    expect(circuit.state(999)).toBe('open');
    expect(circuit.allowance(999)).toBe(0);
    expect(circuit.state(1000)).toBe('half_open');
    expect(circuit.allowance(1000)).toBe(1);
    expect(circuit.allowance(1000)).toBe(1); // asking is not taking
    circuit.probeStarted(1000);
    expect(circuit.allowance(1001)).toBe(0);
    expect(circuit.state(1001)).toBe('half_open');
    expect(changes).toEqual([['closed', 'open'], ['open', 'half_open']]);
  });

  it('a successful probe closes it', () => {
    const { circuit, changes } = breaker(1, 1000);
    circuit.failure(0);
    circuit.probeStarted(1000);
    circuit.success(1200);
    expect(circuit.state(1200)).toBe('closed');
    expect(circuit.allowance(1200)).toBe(Infinity);
    expect(changes).toEqual([['closed', 'open'], ['open', 'half_open'], ['half_open', 'closed']]);
  });

  it('a failed probe re-opens it for another full cool-down', () => {
    const { circuit, changes } = breaker(2, 1000);
    circuit.failure(0);
    circuit.failure(0);
    circuit.probeStarted(1000);
    circuit.failure(1500);
    expect(circuit.state(1500)).toBe('open');
    expect(circuit.state(2499)).toBe('open');
    expect(circuit.state(2500)).toBe('half_open');
    expect(circuit.allowance(2500)).toBe(1);
    expect(changes).toEqual([
      ['closed', 'open'], ['open', 'half_open'], ['half_open', 'open'], ['open', 'half_open'],
    ]);
  });

  it('needs the full threshold again after closing', () => {
    const { circuit } = breaker(2, 100);
    circuit.failure(0);
    circuit.failure(0);
    circuit.probeStarted(100);
    circuit.success(100);
    circuit.failure(101);
    expect(circuit.state(101)).toBe('closed');
    circuit.failure(102);
    expect(circuit.state(102)).toBe('open');
  });

  it('late failures from sends already in flight do not stretch the cool-down', () => {
    const { circuit } = breaker(1, 1000);
    circuit.failure(0);
    circuit.failure(900);
    expect(circuit.state(1000)).toBe('half_open');
  });

  it('a late success while open does not close it: the probe decides', () => {
    const { circuit } = breaker(1, 1000);
    circuit.failure(0);
    circuit.success(500);
    expect(circuit.state(500)).toBe('open');
  });

  it('a probe whose outcome never comes back does not hold the circuit shut forever', () => {
    const { circuit } = breaker(1, 1000);
    circuit.failure(0);
    circuit.probeStarted(1000);
    expect(circuit.allowance(1999)).toBe(0);
    expect(circuit.allowance(2000)).toBe(1);
  });

  describe('news from other processes (SharedCircuits)', () => {
    it('another process opening the circuit opens this one from the same moment, so both cool down together', () => {
      const { circuit, changes } = breaker(3, 1000);
      circuit.openedElsewhere(400, 500);
      expect(circuit.state(500)).toBe('open');
      expect(circuit.openedSince).toBe(400);
      expect(circuit.state(1399)).toBe('open');
      expect(circuit.state(1400)).toBe('half_open');
      expect(changes).toEqual([['closed', 'open'], ['open', 'half_open']]);
    });

    it('an opening older than this breaker\'s own, or already cooled down, changes nothing', () => {
      const { circuit } = breaker(1, 1000);
      circuit.failure(600);
      circuit.openedElsewhere(300, 700);
      expect(circuit.openedSince).toBe(600);
      const other = breaker(1, 1000);
      other.circuit.openedElsewhere(0, 1000);
      expect(other.circuit.state(1000)).toBe('closed');
      expect(other.changes).toEqual([]);
    });

    it('a probe that got through elsewhere closes it and forgets its failures', () => {
      const { circuit } = breaker(2, 1000);
      circuit.failure(0);
      circuit.failure(1);
      expect(circuit.state(2)).toBe('open');
      circuit.closedElsewhere(3);
      expect(circuit.state(3)).toBe('closed');
      circuit.failure(4);
      expect(circuit.state(5)).toBe('closed');
    });

    it('tells its listener which changes were its own', () => {
      const origins: string[] = [];
      const circuit = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 1000 }, (_from, to, origin) => origins.push(`${to}:${origin}`));
      circuit.failure(0);
      circuit.closedElsewhere(10);
      circuit.openedElsewhere(20, 30);
      expect(origins).toEqual(['open:local', 'closed:shared', 'open:shared']);
    });
  });

  it('refuses settings that cannot work', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0, coolDownMs: 1 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ failureThreshold: 1, coolDownMs: -1 })).toThrow(RangeError);
  });
});
