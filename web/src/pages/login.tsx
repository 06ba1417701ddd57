import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { login } from '../lib/api.js';
import { t } from '../lib/i18n.js';
import { navigate } from '../lib/router.js';
import { ErrorBox, useAction } from '../ui.js';

export function LoginPage({ onLoggedIn, langSwitch }: { onLoggedIn: () => void; langSwitch: ComponentChildren }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { error, busy, run } = useAction();
  return (
    <div class="login-wrap">
      <form
        class="card login"
        onSubmit={async (e) => {
          e.preventDefault();
          await run(async () => {
            await login(email.trim(), password);
            const next = new URLSearchParams(location.search).get('next');
            navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
            onLoggedIn();
          });
        }}
      >
        <div class="login-head">
          <h1>{t('appName')}</h1>
          {langSwitch}
        </div>
        <label>
          {t('email')}
          <input name="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('password')}
          <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {t('login')}
        </button>
        <p class="hint">{t('loginHint')}</p>
      </form>
    </div>
  );
}
