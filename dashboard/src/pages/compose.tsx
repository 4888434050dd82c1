import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type ChangeEvent, type FormEvent } from 'react';
import { api, type Body } from '../api/client';
import { likelyProvider, useCostEstimate } from '../cost-estimate';
import { ErrorState } from '../components/states';
import { formatMoney, formatNumber } from '../format';
import { parseRecipients, type Recipient } from '../recipients';
import { Link, navigate, useLocation, withSearch } from '../router';
import { useSession } from '../session';
import { placeholdersOf, renderTemplate, segmentMessage } from '../sms-preview';

type Mode = 'message' | 'batch' | 'otp';
const SMS_TYPES = ['transactional', 'promotional', 'alert', 'marketing', 'otp'] as const;
type SmsType = (typeof SMS_TYPES)[number];

/** Send a message, a campaign or a one-time passcode, seeing segments, encoding and cost as you type. */
export default function ComposePage() {
  const { can } = useSession();
  const { search } = useLocation();
  const modes: Mode[] = [...(can('sms:send') ? ['message', 'batch'] as const : []), ...(can('otp') ? ['otp'] as const : [])];
  const mode: Mode = modes.includes(search.get('mode') as Mode) ? (search.get('mode') as Mode) : modes[0];
  const labels: Record<Mode, string> = { message: 'Message', batch: 'Batch', otp: 'One-time passcode' };
  return (
    <>
      <fieldset className="segmented">
        <legend>What to send</legend>
        {modes.map((m) => (
          <label key={m}>
            <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => navigate(withSearch('/compose', { mode: m }), { replace: true })} />
            {labels[m]}
          </label>
        ))}
      </fieldset>
      {mode === 'message' && <MessageForm />}
      {mode === 'batch' && <BatchForm />}
      {mode === 'otp' && <OtpForm />}
    </>
  );
}

function useProviders() {
  const { can } = useSession();
  return useQuery({ queryKey: ['providers'], queryFn: () => api.get('/api/providers'), enabled: can('read') });
}

function ProviderSelect({ value, onChange }: { value: string; onChange(value: string): void }) {
  const providers = useProviders();
  return (
    <div className="field">
      <label htmlFor="c-provider">Provider</label>
      <select id="c-provider" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">routing decides</option>
        {(providers.data?.items ?? []).filter((p) => p.enabled).map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
      </select>
    </div>
  );
}

function TypeSelect({ value, onChange }: { value: SmsType; onChange(value: SmsType): void }) {
  return (
    <div className="field">
      <label htmlFor="c-type">Type</label>
      <select id="c-type" value={value} onChange={(e) => onChange(e.target.value as SmsType)}>
        {SMS_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
      </select>
    </div>
  );
}

/** Segments, encoding and cost of what would be sent, computed by the gateway's own code. */
function Preview({ texts, provider }: { texts: Array<{ number: string; text: string | undefined }>; provider: string }) {
  const providers = useProviders();
  const counted = texts.map((t) => ({ number: t.number, text: t.text, ...(t.text ? segmentMessage(t.text) : { segments: 0, encoding: undefined, characters: 0 }) }));
  const estimate = useCostEstimate(counted.filter((c) => c.text), provider || likelyProvider(providers.data?.items));
  const first = counted.find((c) => c.text);
  const total = counted.reduce((sum, c) => sum + c.segments, 0);
  return (
    <aside className="preview card" aria-label="Preview" aria-live="polite">
      <h2 className="small">Preview</h2>
      {first?.text ? <pre className="sms-text" data-testid="compose-preview">{first.text}</pre> : <p className="muted">Type a message to see it as the first recipient will.</p>}
      <dl className="facts compact">
        <div><dt>Characters</dt><dd>{first ? formatNumber(first.characters) : 0}</dd></div>
        <div><dt>Encoding</dt><dd data-testid="compose-encoding">{first?.encoding ?? '—'}</dd></div>
        <div><dt>Segments</dt><dd data-testid="compose-segments">{first ? first.segments : 0}{counted.length > 1 ? ` each, ${formatNumber(total)} in all` : ''}</dd></div>
        <div><dt>Cost</dt><dd data-testid="compose-cost">{estimate ? `${formatMoney(estimate.cost, estimate.currency)} via ${estimate.provider}` : '—'}</dd></div>
      </dl>
      {estimate && estimate.invalid > 0 && <p className="error">{estimate.invalid} number(s) are not valid and will be refused.</p>}
    </aside>
  );
}

function splitNumbers(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((n) => n.trim()).filter(Boolean))];
}

function MessageForm() {
  const canRead = useSession().can('read');
  const [to, setTo] = useState('');
  const [message, setMessage] = useState('');
  const [smsType, setSmsType] = useState<SmsType>('transactional');
  const [provider, setProvider] = useState('');
  const numbers = splitNumbers(to);
  const send = useMutation({
    mutationFn: (body: Body<'/api/sms/send', 'post'>) => api.post('/api/sms/send', { body }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    send.mutate({ to: numbers.map((number) => ({ number })), message, sms_type: smsType, ...(provider ? { provider: provider as never } : {}) });
  };
  return (
    <div className="compose">
      <form onSubmit={submit} className="card">
        <div className="field">
          <label htmlFor="c-to">To</label>
          <textarea id="c-to" rows={2} value={to} onChange={(e) => setTo(e.target.value)} placeholder="+14155552671, one or more" aria-describedby="c-to-help" inputMode="tel" />
          <p id="c-to-help" className="help">E.164 numbers, separated by commas or new lines ({numbers.length} recipient{numbers.length === 1 ? '' : 's'}).</p>
        </div>
        <div className="field">
          <label htmlFor="c-message">Message</label>
          <textarea id="c-message" rows={5} value={message} onChange={(e) => setMessage(e.target.value)} />
        </div>
        <div className="row">
          <TypeSelect value={smsType} onChange={setSmsType} />
          <ProviderSelect value={provider} onChange={setProvider} />
        </div>
        <button type="submit" disabled={send.isPending || numbers.length === 0 || message === ''}>{send.isPending ? 'Sending…' : 'Send'}</button>
        {send.isError && <ErrorState error={send.error} />}
        {send.isSuccess && (
          <div className="success" role="status">
            <p>Accepted: {send.data.messages.length} message{send.data.messages.length === 1 ? '' : 's'}, {send.data.total_segments} segment(s), estimated {formatMoney(send.data.estimated_cost, send.data.currency)}.</p>
            <ul>
              {send.data.messages.map((m) => <li key={m.id}>{canRead ? <Link to={`/messages/${m.id}`}>{m.to}: {m.id}</Link> : `${m.to}: ${m.id}`}</li>)}
            </ul>
            {canRead && <Link to="/messages">Follow it in the message log</Link>}
          </div>
        )}
      </form>
      <Preview texts={(numbers.length > 0 ? numbers : ['']).map((number) => ({ number, text: message || undefined }))} provider={provider} />
    </div>
  );
}

function BatchForm() {
  const canRead = useSession().can('read');
  const [name, setName] = useState('');
  const [list, setList] = useState('');
  const [message, setMessage] = useState('');
  const [smsType, setSmsType] = useState<SmsType>('promotional');
  const [provider, setProvider] = useState('');
  const [fileError, setFileError] = useState<string>();
  const recipients: Recipient[] = parseRecipients(list).filter((r) => r.number !== '');
  const send = useMutation({ mutationFn: (body: Body<'/api/sms/send-batch', 'post'>) => api.post('/api/sms/send-batch', { body }) });
  const upload = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    setFileError(undefined);
    if (!file) return;
    if (file.size > 5_000_000) return setFileError('That file is larger than 5 MB; split it.');
    setList(await file.text());
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    send.mutate({ name: name || undefined, recipients, message, sms_type: smsType, ...(provider ? { provider: provider as never } : {}) });
  };
  const texts = recipients.slice(0, 200).map((r) => {
    const result = renderTemplate(message, { ...(r.name !== undefined ? { name: r.name } : {}), ...r.variables });
    return { number: r.number, text: result.ok ? result.text : undefined };
  });
  const missing = placeholdersOf(message).filter((p) => recipients.some((r) => !(p === 'name' ? r.name : r.variables?.[p])));
  return (
    <div className="compose">
      <form onSubmit={submit} className="card">
        <div className="field"><label htmlFor="b-name">Campaign name</label><input id="b-name" value={name} onChange={(e) => setName(e.target.value)} /></div>
        <div className="field">
          <label htmlFor="b-list">Recipients</label>
          <textarea id="b-list" rows={6} value={list} onChange={(e) => setList(e.target.value)} aria-describedby="b-list-help" placeholder={'number,name,code\n+14155552671,Ada,1234'} />
          <p id="b-list-help" className="help">One number per line (<code>number,name</code>), or CSV with a header row: <code>number</code>, <code>name</code>, then one column per variable. {recipients.length} recipient(s).</p>
        </div>
        <div className="field"><label htmlFor="b-file">Or upload a CSV</label><input id="b-file" type="file" accept=".csv,text/csv,text/plain" onChange={upload} /></div>
        {fileError && <p className="error" role="alert">{fileError}</p>}
        <div className="field">
          <label htmlFor="b-message">Message</label>
          <textarea id="b-message" rows={5} value={message} onChange={(e) => setMessage(e.target.value)} aria-describedby="b-message-help" />
          <p id="b-message-help" className="help">{'{{name}}'} and {'{{column}}'} placeholders are filled per recipient.</p>
        </div>
        {missing.length > 0 && <p className="error">Some recipients have no value for {missing.join(', ')}: they will be rejected.</p>}
        <div className="row">
          <TypeSelect value={smsType} onChange={setSmsType} />
          <ProviderSelect value={provider} onChange={setProvider} />
        </div>
        <button type="submit" disabled={send.isPending || recipients.length === 0 || message === ''}>{send.isPending ? 'Sending…' : 'Send batch'}</button>
        {send.isError && <ErrorState error={send.error} />}
        {send.isSuccess && (
          <div className="success" role="status">
            <p>{send.data.accepted} accepted, {send.data.rejected} rejected, {send.data.duplicates} duplicate(s); estimated {formatMoney(send.data.estimated_cost, send.data.currency)}.</p>
            {send.data.rejected_recipients.length > 0 && (
              <ul>{send.data.rejected_recipients.map((r) => <li key={r.index}>{r.number}: {r.error} ({r.reason})</li>)}</ul>
            )}
            {canRead && <Link to="/batches">See its progress</Link>}
          </div>
        )}
      </form>
      <Preview texts={texts.length > 0 ? texts : [{ number: '', text: message || undefined }]} provider={provider} />
    </div>
  );
}

function OtpForm() {
  const canRead = useSession().can('read');
  const [phone, setPhone] = useState('');
  const [length, setLength] = useState(6);
  const [expiry, setExpiry] = useState(5);
  const [custom, setCustom] = useState('');
  const generate = useMutation({ mutationFn: (body: Body<'/api/otp/generate', 'post'>) => api.post('/api/otp/generate', { body }) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    generate.mutate({ phone_number: { number: phone.trim() }, length, expiry_minutes: expiry, ...(custom ? { custom_message: custom } : {}) });
  };
  // What the phone will show, the code stood in for by as many digits (the same length, so the same segments).
  const sample = custom ? custom.replaceAll('{otp}', '0'.repeat(length)).replaceAll('{expiry}', String(expiry)) : undefined;
  return (
    <div className="compose">
      <form onSubmit={submit} className="card">
        <div className="field"><label htmlFor="o-phone">Phone number</label><input id="o-phone" value={phone} onChange={(e) => setPhone(e.target.value)} inputMode="tel" placeholder="+14155552671" /></div>
        <div className="row">
          <div className="field"><label htmlFor="o-length">Code length</label><input id="o-length" type="number" min={4} max={10} value={length} onChange={(e) => setLength(Number(e.target.value))} /></div>
          <div className="field"><label htmlFor="o-expiry">Valid for (minutes)</label><input id="o-expiry" type="number" min={1} max={60} value={expiry} onChange={(e) => setExpiry(Number(e.target.value))} /></div>
        </div>
        <div className="field">
          <label htmlFor="o-custom">Custom text (optional)</label>
          <input id="o-custom" value={custom} onChange={(e) => setCustom(e.target.value)} placeholder="Your code is {otp}. It expires in {expiry} minutes." aria-describedby="o-custom-help" />
          <p id="o-custom-help" className="help"><code>{'{otp}'}</code> is the code, <code>{'{expiry}'}</code> the minutes.</p>
        </div>
        <button type="submit" disabled={generate.isPending || phone.trim() === ''}>{generate.isPending ? 'Sending…' : 'Send code'}</button>
        {generate.isError && <ErrorState error={generate.error} />}
        {generate.isSuccess && (
          <div className="success" role="status">
            <p>Code sent: session <span className="mono">{generate.data.session_id}</span>, valid until {new Date(generate.data.expires_at).toLocaleTimeString()}.</p>
            {canRead && <Link to={`/messages/${generate.data.message_id}`}>Follow its message</Link>}
          </div>
        )}
      </form>
      <Preview texts={[{ number: phone.trim(), text: sample }]} provider="" />
    </div>
  );
}
