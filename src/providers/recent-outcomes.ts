/** The last few hundred send outcomes of one provider: what `GET /api/providers` shows as recent health. */
export class RecentOutcomes {
  private readonly taken: boolean[] = [];
  private readonly durations: number[] = [];
  private next = 0;

  constructor(private readonly size = 200) {}

  /** `taken`: the provider accepted the message (rejections of bad numbers count against it too: they are its answer). */
  record(taken: boolean, durationMs: number): void {
    this.taken[this.next] = taken;
    this.durations[this.next] = durationMs;
    this.next = (this.next + 1) % this.size;
  }

  summary(): { attempts: number; success_rate: number | null; p50_ms: number | null } {
    const attempts = this.taken.length;
    if (attempts === 0) return { attempts, success_rate: null, p50_ms: null };
    const sorted = [...this.durations].sort((a, b) => a - b);
    return {
      attempts,
      success_rate: Math.round((this.taken.filter(Boolean).length / attempts) * 10_000) / 10_000,
      p50_ms: sorted[Math.floor((sorted.length - 1) / 2)],
    };
  }
}
