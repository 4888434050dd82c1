import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, setCallKey, type Scope } from './api/client';

/*
 * The session is the API key, kept in sessionStorage: it survives a reload of the tab and is gone
 * when the tab closes; it is never in a URL or a cookie (docs/dashboard.md weighs this).
 */

const STORAGE = 'sms-gateway.dashboard.key';

export interface Session {
  /** '' when keys are optional and none was given (the operator). */
  key: string;
  keyId: string | null;
  scopes: Scope[];
}

interface SessionContext {
  session: Session | undefined;
  logIn(key: string): Promise<void>;
  logOut(): void;
  /** What the key may do (admin may do everything); the API enforces it either way. */
  can(scope: Scope): boolean;
}

const Context = createContext<SessionContext | undefined>(undefined);

function stored(): Session | undefined {
  try {
    const text = sessionStorage.getItem(STORAGE);
    return text ? (JSON.parse(text) as Session) : undefined;
  } catch {
    return undefined;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queries = useQueryClient();
  const [session, setSession] = useState<Session | undefined>(() => {
    const found = stored();
    setCallKey(found?.key);
    return found;
  });

  const logOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE);
    setCallKey(undefined);
    queries.clear();
    setSession(undefined);
  }, [queries]);

  // Set while rendering, not in an effect: the pages below start their queries in their own
  // effects, which run before this component's. A 401 on any call (a revoked key) ends the session.
  setCallKey(session?.key, session ? logOut : undefined);

  const logIn = useCallback(async (key: string) => {
    const who = await api.get('/api/keys/current', { key });
    const next: Session = { key, keyId: who.key_id, scopes: who.scopes };
    sessionStorage.setItem(STORAGE, JSON.stringify(next));
    setCallKey(key, logOut);
    setSession(next);
  }, [logOut]);

  const value = useMemo<SessionContext>(() => ({
    session,
    logIn,
    logOut,
    can: (scope) => !!session && (session.scopes.includes('admin') || session.scopes.includes(scope)),
  }), [session, logIn, logOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionContext {
  const context = useContext(Context);
  if (!context) throw new Error('useSession outside SessionProvider');
  return context;
}
