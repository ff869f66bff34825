import { Alert, Button, PasswordInput, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, csrf, failure } from './api.ts';
import { ME_KEY } from './App.tsx';
import { FormCard } from './FormCard.tsx';

/** Sign-in: email and password, then the TOTP code when the API asks for one. */
export function SignIn() {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [totpCode, setTotpCode] = useState('');
  const [askTotp, setAskTotp] = useState(false);
  const signIn = useMutation({
    mutationFn: async () => {
      const result = await api.POST('/staff/v1/auth/login', {
        body: { email, password, ...(askTotp ? { totpCode } : {}) },
      });
      if (!result.data) throw failure(result.response, result.error);
      return result.data;
    },
    onSuccess: (signedIn) => {
      csrf.set(signedIn.csrfToken);
      queryClient.setQueryData(ME_KEY, signedIn.staff);
    },
    onError: (error) => {
      if (/TOTP/i.test(error.message)) setAskTotp(true);
    },
  });
  return (
    <FormCard
      titleId="sign-in-title"
      title="Sign in to the care360 console"
      width={380}
      onSubmit={() => signIn.mutate()}
    >
      <TextInput
        label="Email"
        type="email"
        autoComplete="username"
        required
        value={email}
        onChange={(event) => setEmail(event.currentTarget.value)}
      />
      <PasswordInput
        label="Password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(event) => setPassword(event.currentTarget.value)}
      />
      {askTotp && (
        <TextInput
          label="Authentication code"
          description="The 6-digit code of your authenticator app"
          inputMode="numeric"
          autoComplete="one-time-code"
          required
          autoFocus
          value={totpCode}
          onChange={(event) => setTotpCode(event.currentTarget.value.trim())}
        />
      )}
      {signIn.isError && (
        <Alert color="red" role="alert" title="Not signed in">
          {signIn.error.message}
        </Alert>
      )}
      <Button type="submit" loading={signIn.isPending}>
        Sign in
      </Button>
    </FormCard>
  );
}
