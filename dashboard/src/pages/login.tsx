import { useState, type FormEvent } from 'react';
import { errorText } from '../components/states';
import { useSession } from '../session';

export function LoginPage() {
  const { logIn } = useSession();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await logIn(key.trim());
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <h1>SMS gateway</h1>
      <form onSubmit={submit} className="card">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key" name="api-key" type="password" autoComplete="off" spellCheck={false} value={key}
          onChange={(e) => setKey(e.target.value)} aria-describedby="api-key-help" aria-invalid={error ? true : undefined}
        />
        <p id="api-key-help" className="help">
          Create one with <code>npm run apikey -- create --name you --scopes read,sms:send</code>. It is kept in this tab only
          (sessionStorage) and sent as <code>Authorization: Bearer</code>.
        </p>
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Log in'}</button>
      </form>
    </main>
  );
}
