const TONE: Record<string, string> = {
  delivered: 'good', sent: 'info', sending: 'info', queued: 'neutral', scheduled: 'neutral', draft: 'neutral',
  undelivered: 'bad', failed: 'bad', expired: 'bad', canceled: 'muted',
  closed: 'good', half_open: 'warn', open: 'bad', completed: 'good', processing: 'info',
  accepted: 'good', rejected: 'bad', retry: 'warn', unknown: 'warn', pending: 'neutral', refused: 'bad',
};

/** A status as text (never by colour alone). */
export function StatusBadge({ status }: { status: string | null | undefined }) {
  const value = status ?? 'unknown';
  return <span className={`badge ${TONE[value] ?? 'neutral'}`}>{value.replace('_', ' ')}</span>;
}
