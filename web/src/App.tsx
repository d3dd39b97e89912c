/** Login gate: the dashboard when the session cookie is accepted, otherwise the login page. */
import { useEffect, useState } from 'react';
import { setUnauthorizedHandler } from './api/client';
import { endpoints } from './api/endpoints';
import { Dashboard } from './components/Dashboard';
import { Login } from './components/Login';
import { I18nProvider, useI18n } from './i18n';

type Auth = 'checking' | 'in' | 'out';

function Gate() {
  const { t } = useI18n();
  const [auth, setAuth] = useState<Auth>('checking');
  const [expired, setExpired] = useState(false);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setAuth((current) => {
        if (current === 'in') setExpired(true);
        return 'out';
      });
    });
    endpoints.status().then(
      () => setAuth('in'),
      () => setAuth('out'),
    );
  }, []);

  if (auth === 'checking') return <div className="boot">{t('common.loading')}</div>;
  if (auth === 'out') {
    return (
      <Login
        expired={expired}
        onLoggedIn={() => {
          setExpired(false);
          setAuth('in');
        }}
      />
    );
  }
  return (
    <Dashboard
      onLoggedOut={(wasExpired) => {
        setExpired(wasExpired);
        setAuth('out');
      }}
    />
  );
}

export function App() {
  return (
    <I18nProvider>
      <Gate />
    </I18nProvider>
  );
}
