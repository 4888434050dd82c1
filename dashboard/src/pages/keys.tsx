import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, type Reply, type Scope } from '../api/client';
import { Empty, ErrorState, QueryView } from '../components/states';
import { formatTime } from '../format';
import { useSession } from '../session';

const SCOPES: Array<{ scope: Scope; what: string }> = [
  { scope: 'read', what: 'read messages, statistics, templates' },
  { scope: 'sms:send', what: 'send messages and batches, opt-outs' },
  { scope: 'otp', what: 'send and check one-time passcodes' },
  { scope: 'templates:write', what: 'create and change templates' },
  { scope: 'admin', what: 'everything, keys and the audit log included' },
];

/** Admin: create keys (the secret is shown once, here) and revoke them. */
export default function KeysPage() {
  const { session } = useSession();
  const queries = useQueryClient();
  const keys = useQuery({ queryKey: ['keys'], queryFn: ({ signal }) => api.get('/api/keys', { signal }) });
  const [created, setCreated] = useState<Reply<'/api/keys', 'post'>>();
  const revoke = useMutation({
    mutationFn: (id: string) => api.delete('/api/keys/{key_id}', { params: { key_id: id } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['keys'] }),
  });
  return (
    <>
      <CreateKey onCreated={(key) => {
        setCreated(key);
        void queries.invalidateQueries({ queryKey: ['keys'] });
      }} />
      {created && (
        <div className="card success" role="status">
          <p>Key <strong>{created.name}</strong> created. Copy it now: it is not shown again.</p>
          <label htmlFor="new-key">New API key</label>
          <input id="new-key" readOnly value={created.key} className="mono" onFocus={(e) => e.target.select()} />
          <div className="actions">
            <button type="button" onClick={() => void navigator.clipboard?.writeText(created.key)}>Copy</button>
            <button type="button" className="secondary" onClick={() => setCreated(undefined)}>I have copied it</button>
          </div>
        </div>
      )}
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">Keys</h2>
        {revoke.isError && <ErrorState error={revoke.error} />}
        <QueryView query={keys} what="keys">
          {(k) => k.items.length === 0 ? <Empty>No key yet.</Empty> : (
            <div className="table-wrap" tabIndex={0}>
              <table>
                <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">State</th></tr></thead>
                <tbody>
                  {k.items.map((key) => (
                    <tr key={key.id} data-key-id={key.id}>
                      <th scope="row">{key.name}</th>
                      <td className="mono">{key.id}</td>
                      <td>{key.scopes.join(', ')}</td>
                      <td>{formatTime(key.created_at, true)}</td>
                      <td>{formatTime(key.last_used_at, true)}</td>
                      <td>
                        {key.revoked_at ? <span className="badge muted">revoked {formatTime(key.revoked_at, true)}</span> : key.id === session?.keyId ? <span className="muted">this session's key</span> : (
                          <button type="button" className="secondary" disabled={revoke.isPending}
                            onClick={() => window.confirm(`Revoke ${key.name}? Every client using it is refused at once.`) && revoke.mutate(key.id)}>
                            Revoke<span className="visually-hidden"> {key.name}</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryView>
      </section>
    </>
  );
}

function CreateKey({ onCreated }: { onCreated(key: Reply<'/api/keys', 'post'>): void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const create = useMutation({ mutationFn: () => api.post('/api/keys', { body: { name: name.trim(), scopes } }), onSuccess: (key) => {
    setName('');
    onCreated(key);
  } });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-key-heading">
      <h2 id="create-key-heading" className="small">Create a key</h2>
      <div className="field"><label htmlFor="k-name">Name</label><input id="k-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} /></div>
      <fieldset>
        <legend>Scopes</legend>
        {SCOPES.map(({ scope, what }) => (
          <label key={scope} className="check">
            <input type="checkbox" checked={scopes.includes(scope)} onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))} />
            <span><code>{scope}</code> — {what}</span>
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={create.isPending || scopes.length === 0 || name.trim() === ''}>Create key</button>
      {create.isError && <ErrorState error={create.error} />}
    </form>
  );
}
