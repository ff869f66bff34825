import { AppShell, Button, Center, Group, Loader, Text, Title } from '@mantine/core';
import { QueryClient, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { api, csrf, data, whenSignedOut, type Me } from './api.ts';
import { CasePage } from './CasePage.tsx';
import { hrefOf, navigate, useRoute } from './navigation.ts';
import { isOperator, Operator } from './operator/Operator.tsx';
import { Queue } from './Queue.tsx';
import { SetPassword } from './SetPassword.tsx';
import { SignIn } from './SignIn.tsx';

export const ME_KEY = ['me'] as const;

/** Signed out: the sign-in page shows, and nothing this tab read stays in memory. */
function forgetSession(queryClient: QueryClient): void {
  csrf.clear();
  queryClient.setQueryData(ME_KEY, null);
  queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== ME_KEY[0] });
}

export function App() {
  // The one-time link works signed in or not: it needs no session.
  return useRoute().page === 'set-password' ? <SetPassword /> : <Console />;
}

function Console() {
  const queryClient = useQueryClient();
  const me = useQuery({
    queryKey: ME_KEY,
    queryFn: async () => {
      const result = await api.GET('/staff/v1/me');
      return result.response.status === 401 ? null : await data(Promise.resolve(result));
    },
  });

  useEffect(() => {
    // A session that ends (sign-out in another tab, expiry, revocation): drop everything this tab showed.
    whenSignedOut(() => forgetSession(queryClient));
  }, [queryClient]);

  if (me.isPending) {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (me.isError) {
    return (
      <Center h="100vh">
        <Text role="alert">The console could not reach the server: {me.error.message}</Text>
      </Center>
    );
  }
  // A tab without the session's CSRF token (a new tab) could read but not act: it signs in for a session of its own.
  if (!me.data || !csrf.get()) return <SignIn />;
  return <SignedIn me={me.data} />;
}

function SignedIn({ me }: { me: Me }) {
  const route = useRoute();
  const queryClient = useQueryClient();
  const signOut = useMutation({
    mutationFn: () => data(api.POST('/staff/v1/auth/logout')),
    onSettled: () => {
      // Nothing of the last case stays in this tab, nor in its address.
      history.replaceState(null, '', hrefOf({ page: 'queue' }));
      forgetSession(queryClient);
    },
  });
  return (
    <AppShell header={{ height: 56 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Title order={1} size="h3">
              <a
                href={hrefOf({ page: 'queue' })}
                style={{ color: 'inherit', textDecoration: 'none' }}
                onClick={(event) => {
                  event.preventDefault();
                  navigate({ page: 'queue' });
                }}
              >
                care360 console
              </a>
            </Title>
          </Group>
          <Group>
            {isOperator(me) && (
              <a
                href={hrefOf({ page: 'operator', path: '' })}
                onClick={(event) => {
                  event.preventDefault();
                  navigate({ page: 'operator', path: '' });
                }}
              >
                Operator
              </a>
            )}
            <Text size="sm" aria-label="Signed in as">
              {me.firstName} {me.lastName} · {me.role}
            </Text>
            <Button variant="default" size="xs" onClick={() => signOut.mutate()} loading={signOut.isPending}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        {route.page === 'case' ? (
          <CasePage caseId={route.caseId} me={me} />
        ) : route.page === 'operator' ? (
          <Operator path={route.path} me={me} />
        ) : (
          <Queue me={me} />
        )}
      </AppShell.Main>
    </AppShell>
  );
}
