import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { Reply } from './api/client';
import { followStatusChanges, type StatusChange, type StreamState } from './api/events';
import { useSession } from './session';

type MessagePage = Reply<'/api/sms'>;

/** How often lists are reloaded at most when changes name messages they do not show (new ones). */
const RELOAD_AT_MOST_EVERY_MS = 1_000;
const RESYNC_AT_MOST_EVERY_MS = 5_000;

const Context = createContext<StreamState | 'off'>('off');

/** Puts each change into what is already loaded: the row in every message list showing it, and the message's own page. */
function applyChanges(queries: QueryClient, changes: StatusChange[]): boolean {
  const latest = new Map<string, StatusChange>();
  for (const change of changes) latest.set(change.message_id, change);
  let unknown = false;
  const seen = new Set<string>();
  queries.setQueriesData<MessagePage>({ queryKey: ['messages'] }, (page) => {
    if (!page) return page;
    let changed = false;
    const items = page.items.map((item) => {
      const change = latest.get(item.id);
      if (!change) return item;
      seen.add(item.id);
      if (change.status === item.status) return item;
      changed = true;
      return { ...item, status: change.status as typeof item.status, updated_at: change.timestamp };
    });
    return changed ? { ...page, items } : page;
  });
  for (const id of latest.keys()) {
    if (!seen.has(id)) unknown = true;
    void queries.invalidateQueries({ queryKey: ['message', id] });
    void queries.invalidateQueries({ queryKey: ['callbacks', id] });
  }
  return unknown;
}

/**
 * One events stream per signed-in tab, shared by every page: statuses change in place, without
 * reloading; counts (batches, overview) are refreshed at most once a second.
 */
export function LiveUpdates({ children }: { children: ReactNode }) {
  const { session, can, logOut } = useSession();
  const queries = useQueryClient();
  const [state, setState] = useState<StreamState | 'off'>('off');
  const allowed = !!session && can('read');

  useEffect(() => {
    if (!session || !allowed) return;
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    let lastResync = 0;
    const reloadSoon = (all: boolean) => {
      if (reloadTimer) return;
      reloadTimer = setTimeout(() => {
        reloadTimer = undefined;
        if (all) void queries.invalidateQueries({ queryKey: ['messages'] });
        void queries.invalidateQueries({ queryKey: ['batches'] });
        void queries.invalidateQueries({ queryKey: ['batch'] });
        void queries.invalidateQueries({ queryKey: ['queue'] });
      }, RELOAD_AT_MOST_EVERY_MS);
    };
    const stop = followStatusChanges(session.key, {
      onChanges: (changes) => reloadSoon(applyChanges(queries, changes)),
      // Under a burst the server says "resync" every read: reload everything at most every few seconds.
      onResync: () => {
        if (Date.now() - lastResync < RESYNC_AT_MOST_EVERY_MS) return;
        lastResync = Date.now();
        void queries.invalidateQueries();
      },
      onState: setState,
      onRevoked: logOut,
    });
    return () => {
      stop();
      clearTimeout(reloadTimer);
      setState('off');
    };
  }, [session, allowed, queries, logOut]);

  return <Context.Provider value={state}>{children}</Context.Provider>;
}

export function useLiveState(): StreamState | 'off' {
  return useContext(Context);
}
