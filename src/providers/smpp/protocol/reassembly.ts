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
 * most `maxGroups` messages and `maxBytes` of their parts are held at once, the oldest messages
 * dropped first (a message alone larger than that too), so a peer cannot make it grow without bound:
 * 10,000 messages of 254 of their 255 parts of 254 octets would be 650 MB, and `message_payload`
 * parts can be larger. Each part is copied out of its PDU, so what is counted is what is held: a
 * slice would keep the PDU's whole buffer (often a shared 8 KiB pool slab) alive.
 */
export class Reassembler<T> {
  private readonly groups = new Map<string, Group<T>>();
  private bytes = 0;

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxGroups: number,
    private readonly onExpired: (key: string, received: T[]) => void = () => {},
    private readonly maxBytes = 16 * 1024 * 1024,
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
    this.bytes += octets.length - (group.parts.get(concatenation.sequence)?.octets.length ?? 0);
    const held = Buffer.allocUnsafeSlow(octets.length);
    octets.copy(held);
    group.parts.set(concatenation.sequence, { octets: held, extra });
    if (group.parts.size < group.total) {
      // Oldest first, the message this part belongs to last: it is still arriving.
      while (this.bytes > this.maxBytes && this.groups.size > 1) this.evictOldest(id);
      if (this.bytes > this.maxBytes) this.evictOldest();
      return undefined;
    }
    this.drop(id, group);
    const ordered = [...group.parts.entries()].sort(([a], [b]) => a - b).map(([, part]) => part);
    return { octets: Buffer.concat(ordered.map((p) => p.octets)), parts: ordered.map((p) => p.extra) };
  }

  get pending(): number {
    return this.groups.size;
  }

  /** Bytes of parts held. */
  get pendingBytes(): number {
    return this.bytes;
  }

  private drop(id: string, group: Group<T>): void {
    this.groups.delete(id);
    for (const part of group.parts.values()) this.bytes -= part.octets.length;
  }

  private expire(now: number): void {
    // Insertion order is age order: stop at the first group still young enough.
    for (const [id, group] of this.groups) {
      if (now - group.startedAt < this.maxAgeMs) break;
      this.drop(id, group);
      this.onExpired(id, [...group.parts.values()].map((p) => p.extra));
    }
  }

  /** Drops the oldest message held, other than `keep`. */
  private evictOldest(keep?: string): void {
    for (const [id, group] of this.groups) {
      if (id === keep) continue;
      this.drop(id, group);
      this.onExpired(id, [...group.parts.values()].map((p) => p.extra));
      return;
    }
  }
}
