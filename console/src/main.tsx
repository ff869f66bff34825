import '@mantine/core/styles.css';
import { createTheme, MantineProvider, type CSSVariablesResolver } from '@mantine/core';
import { focusManager, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';

/** The page's style nonce (routes.ts): Mantine's `<style>` elements carry it, so the policy needs no unsafe-inline. */
const styleNonce = document.querySelector<HTMLMetaElement>('meta[name="csp-style-nonce"]')?.content ?? '';

/**
 * Shade 9 for filled and outlined colors: Mantine's default shade 6 leaves white text on blue, green or red below
 * WCAG's 4.5:1 (the browser test checks contrast with axe-core).
 */
const theme = createTheme({ primaryShade: 9 });

/** Dimmed text (field descriptions among it) one shade darker than Mantine's, for 4.5:1 contrast on white. */
const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)' },
  dark: {},
});

const queryClient = new QueryClient({
  defaultOptions: {
    // PHI lives in memory only, and not for long once nobody looks at it.
    queries: { retry: false, gcTime: 60_000, refetchOnWindowFocus: true },
  },
});

/**
 * Live refresh: the reads on screen (the queue, the open case and its timeline) are fetched again when the tab
 * becomes visible (TanStack's default) and also when the window regains focus, which a switch between windows
 * does without a change of visibility. Actions refresh what they change themselves (invalidation).
 */
focusManager.setEventListener((handleFocus) => {
  const listener = () => handleFocus();
  window.addEventListener('visibilitychange', listener);
  window.addEventListener('focus', listener);
  return () => {
    window.removeEventListener('visibilitychange', listener);
    window.removeEventListener('focus', listener);
  };
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider
      theme={theme}
      cssVariablesResolver={cssVariablesResolver}
      getStyleNonce={() => styleNonce}
      defaultColorScheme="light"
    >
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
