/** The signed-in dashboard: header, controls, and the overview / strategy / settings tabs. */
import { useCallback, useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { SecretsStatus, Status } from '../api/types';
import { noticeText, useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import { useLive } from '../stream/useLive';
import { Cards } from './Cards';
import { ChartsPanel } from './Charts';
import { Controls } from './Controls';
import { Header } from './Header';
import { KeysPanel } from './KeysPanel';
import { StrategyPanel } from './StrategyPanel';
import { OpenOrders, RecentFills } from './Tables';
import { TelegramPanel } from './TelegramPanel';

export const TABS = ['overview', 'strategy', 'settings'] as const;
export type Tab = (typeof TABS)[number];

function tabFromHash(hash: string): Tab {
  const name = hash.replace(/^#\/?/, '');
  return (TABS as readonly string[]).includes(name) ? (name as Tab) : 'overview';
}

function useTab(): [Tab, (tab: Tab) => void] {
  const [tab, setTab] = useState<Tab>(() => tabFromHash(window.location.hash));
  useEffect(() => {
    const onHash = () => setTab(tabFromHash(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return [tab, (next) => {
    window.location.hash = `/${next}`;
    setTab(next);
  }];
}

function useNowNs(): number {
  const [now, setNow] = useState(() => Date.now() * 1e6);
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now() * 1e6), 1000);
    return () => clearInterval(id);
  }, []);
  return now;
}

export function Dashboard(props: { onLoggedOut(expired: boolean): void }) {
  const { t } = useI18n();
  const live = useLive(true, () => props.onLoggedOut(true));
  const [override, setOverride] = useState<Status | null>(null);
  const [tab, setTab] = useTab();
  const [secrets, setSecrets] = useState<SecretsStatus | null>(null);
  const nowNs = useNowNs();
  // a control's answer shows at once; the next stream frame takes over
  useEffect(() => setOverride(null), [live.frameSeq]);
  const status = override ?? live.status;
  const engineMode = status?.engine.mode;

  const loadSecrets = useCallback(() => {
    endpoints.secretsStatus().then(setSecrets, () => undefined);
  }, []);
  useEffect(loadSecrets, [loadSecrets]);

  const logout = async () => {
    try {
      await endpoints.logout();
    } finally {
      props.onLoggedOut(false);
    }
  };

  return (
    <div className={`app mode-${status?.mode ?? 'unknown'}`}>
      <Header status={status} conn={live.conn} lastFrameMs={live.lastFrameMs} onLogout={() => void logout()} />
      <div className="subbar">
        <Controls status={status} flatten={live.flatten} lotSize={live.lotSize} onStatus={setOverride} />
        {status && status.notices.length > 0 && (
          <ul className="notices" aria-label={t('notice.title')} data-testid="notices">
            {status.notices.map((n) => (
              <li key={n}>{noticeText(n, t)}</li>
            ))}
          </ul>
        )}
      </div>
      <nav className="tabs" role="tablist">
        {TABS.map((name) => (
          <button key={name} type="button" role="tab" aria-selected={tab === name} className={tab === name ? 'active' : ''} onClick={() => setTab(name)} data-testid={`tab-${name}`}>
            {t(`tab.${name}` as MessageKey)}
          </button>
        ))}
      </nav>
      <main className="content">
        <div hidden={tab !== 'overview'} className="overview">
          <Cards status={status} summary={live.summary} />
          <ChartsPanel status={live.status} summary={live.summary} frameSeq={live.frameSeq} fillMarks={live.fillMarks} fillSeq={live.fillSeq} conn={live.conn} />
          <div className="tables">
            <OpenOrders orders={status?.engine.open_orders ?? []} nowNs={status?.engine.last_market_ns ?? nowNs} />
            <RecentFills fillSeq={live.fillSeq} />
          </div>
        </div>
        {tab === 'strategy' && <StrategyPanel engineMode={engineMode} />}
        {tab === 'settings' && (
          <div className="settings">
            <KeysPanel engineMode={engineMode} secrets={secrets} onSecrets={setSecrets} />
            <TelegramPanel onSecretsChanged={loadSecrets} />
          </div>
        )}
      </main>
    </div>
  );
}
