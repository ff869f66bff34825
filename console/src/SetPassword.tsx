import { Alert, Anchor, Button, PasswordInput, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data } from './api.ts';
import { FormCard } from './FormCard.tsx';
import { hrefOf } from './navigation.ts';

/** The API's rule (docs/api/staff.md), checked here first so the common mistake is explained before a round trip. */
const MIN_LENGTH = 12;

/**
 * The one-time token from the link's fragment (`/console/set-password#token=…`): a fragment never reaches a server
 * log or a Referer. It is taken out of the address at once, so it stays in no history entry.
 */
function tokenFromAddress(): string {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  if (location.hash) history.replaceState(null, '', location.pathname);
  return token;
}

/** Read once, when the page first renders (a second render, as StrictMode's, would find the address cleared). */
let linkToken: string | null = null;
const takeLinkToken = (): string => (linkToken ??= tokenFromAddress());

/** Set-password from the one-time link (POST /staff/v1/auth/set-password); the token can also be pasted. */
export function SetPassword() {
  const [token, setToken] = useState(takeLinkToken);
  const [fromLink] = useState(() => token !== '');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const setIt = useMutation({
    mutationFn: () => data(api.POST('/staff/v1/auth/set-password', { body: { token: token.trim(), password } })),
  });
  const submit = () => {
    if (password.length < MIN_LENGTH) return setProblem(`A password has at least ${MIN_LENGTH} characters.`);
    if (password !== again) return setProblem('The two passwords differ.');
    setProblem(null);
    setIt.mutate();
  };
  return (
    <FormCard titleId="set-password-title" title="Set your password" width={420} onSubmit={submit}>
      {setIt.isSuccess ? (
        <>
          <Text role="status">Your password is set. Every earlier session of your account has ended.</Text>
          <Anchor href={hrefOf({ page: 'queue' })}>Sign in</Anchor>
        </>
      ) : (
        <>
          {!fromLink && (
            <TextInput
              label="Set-password token"
              description="From the link your administrator gave you"
              required
              value={token}
              onChange={(event) => setToken(event.currentTarget.value)}
            />
          )}
          <PasswordInput
            label="New password"
            description={`At least ${MIN_LENGTH} characters`}
            autoComplete="new-password"
            required
            value={password}
            onChange={(event) => setPassword(event.currentTarget.value)}
          />
          <PasswordInput
            label="New password again"
            autoComplete="new-password"
            required
            value={again}
            onChange={(event) => setAgain(event.currentTarget.value)}
          />
          {(problem || setIt.isError) && (
            <Alert color="red" role="alert" title="The password was not set">
              {problem ?? setIt.error?.message}
            </Alert>
          )}
          <Button type="submit" loading={setIt.isPending}>
            Set the password
          </Button>
        </>
      )}
    </FormCard>
  );
}
