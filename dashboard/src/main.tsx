import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ApiError } from './api/client';
import { App } from './app';
import { SessionProvider } from './session';
import { LiveUpdates } from './live';
import './styles.css';

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refused or unknown request will not succeed by asking again.
      retry: (count, error) => count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
      staleTime: 5_000,
      refetchOnWindowFocus: true,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <SessionProvider>
        <LiveUpdates>
          <App />
        </LiveUpdates>
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
);
