/** Password login; the server answers with an HttpOnly session cookie (nothing is stored here). */
import { type FormEvent, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import { type Lang, LANGS, useI18n } from '../i18n';

const LANG_NAMES: Record<Lang, string> = { en: 'English', zh: '中文' };

export function Login(props: { expired: boolean; onLoggedIn(): void }) {
  const { t, lang, setLang } = useI18n();
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await endpoints.login(password);
      setPassword('');
      props.onLoggedIn();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setError(t('login.wrong'));
      else if (e instanceof ApiError && e.status === 429) setError(t('login.limited', { s: e.retryAfterS ?? 60 }));
      else setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login-page">
      <form className="login" onSubmit={(e) => void submit(e)} data-testid="login-form">
        <div className="brand">
          <span className="brand-name">{t('app.title')}</span>
          <span className="brand-sub">{t('app.subtitle')}</span>
        </div>
        <h1>{t('login.title')}</h1>
        {props.expired && <div className="inline-note" data-testid="login-expired">{t('login.expired')}</div>}
        {/* one operator, no user name; the hidden field lets password managers file the entry */}
        <input type="text" name="username" autoComplete="username" value="operator" readOnly hidden />
        <label htmlFor="password">{t('login.password')}</label>
        <input id="password" type="password" autoComplete="current-password" autoFocus value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" />
        {error && (
          <div className="inline-error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || password === ''} data-testid="login-submit">
          {busy ? t('login.busy') : t('login.submit')}
        </button>
        <p className="field-help">{t('login.hint')}</p>
        <div className="lang-switch" role="group">
          {LANGS.map((l) => (
            <button key={l} type="button" className={l === lang ? 'active' : ''} aria-pressed={l === lang} onClick={() => setLang(l)}>
              {LANG_NAMES[l]}
            </button>
          ))}
        </div>
      </form>
    </main>
  );
}
