import type { Concatenation } from './short-message.js';

/** The parts of one concatenated message, once every one of them has come. */
export interface Reassembled<T> {
  octets: Buffer;
  /** What the caller attached to each part, in part order. */
  parts: T[];
}

interface Group<T> {
  total: number;
  startedAt: number;
  parts: Map<number, { octets: Buffer; extra: T }>;
}

/**
 * Joins the parts of concatenated messages (UDH or sar_*) in memory. A message whose parts do not
 * all arrive within `maxAgeMs` is dropped (the caller learns of it through `onExpired`), and at
 * most `maxGroups` messages are held at once, so a peer cannot make it grow without bound.
 */
export class Reassembler<T> {
  private readonly groups = new Map<string, Group<T>>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxGroups: number,
    private readonly onExpired: (key: string, received: T[]) => void = () => {},
  ) {}

  /** Adds a part; returns the whole message when this part completes it. A repeated part replaces the earlier copy. */
  add(key: string, concatenation: Concatenation, octets: Buffer, extra: T, now = Date.now()): Reassembled<T> | undefined {
    this.expire(now);
    const id = `${key}|${concatenation.reference}|${concatenation.total}`;
    let group = this.groups.get(id);
    if (!group) {
      if (this.groups.size >= this.maxGroups) this.evictOldest();
      group = { total: concatenation.total, startedAt: now, parts: new Map() };
      this.groups.set(id, group);
    }
    group.parts.set(concatenation.sequence, { octets, extra });
    if (group.parts.size < group.total) return undefined;
    this.groups.delete(id);
    const ordered = [...group.parts.entries()].sort(([a], [b]) => a - b).map(([, part]) => part);
    return { octets: Buffer.concat(ordered.map((p) => p.octets)), parts: ordered.map((p) => p.extra) };
  }

  get pending(): number {
    return this.groups.size;
  }

  private expire(now: number): void {
    // Insertion order is age order: stop at the first group still young enough.
    for (const [id, group] of this.groups) {
      if (now - group.startedAt < this.maxAgeMs) break;
      this.groups.delete(id);
      this.onExpired(id, [...group.parts.values()].map((p) => p.extra));
    }
  }

  private evictOldest(): void {
    const [id, group] = this.groups.entries().next().value as [string, Group<T>];
    this.groups.delete(id);
    this.onExpired(id, [...group.parts.values()].map((p) => p.extra));
  }
}
