/** Top bar: trading mode (live is unmistakable), engine state, stream state, language, logout. */
import { useEffect, useState } from 'react';
import type { Status } from '../api/types';
import { fmtAge } from '../format';
import { type Lang, LANGS, useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import type { ConnState } from '../stream/machine';

const LANG_NAMES: Record<Lang, string> = { en: 'English', zh: '中文' };

export function modeKey(mode: string | undefined): MessageKey {
  if (mode === 'live' || mode === 'paper' || mode === 'demo') return `mode.${mode}`;
  return 'engine.unknown';
}

export function engineKey(mode: string | undefined): MessageKey {
  const known = ['idle', 'reconciling', 'running', 'paused', 'stopping', 'halting', 'flattening', 'stopped', 'halted'];
  return mode && known.includes(mode) ? (`engine.${mode}` as MessageKey) : 'engine.unknown';
}

function useNow(periodMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(id);
  }, [periodMs]);
  return now;
}

export function Header(props: {
  status: Status | null;
  conn: ConnState;
  lastFrameMs: number | null;
  onLogout(): void;
}) {
  const { t, lang, setLang } = useI18n();
  const now = useNow(1000);
  const mode = props.status?.mode;
  const engineMode = props.status?.engine.mode;
  const age = props.lastFrameMs === null ? null : now - props.lastFrameMs;
  const connTitle = age === null ? undefined : t('conn.lastUpdate', { age: fmtAge(age) });
  return (
    <header className={`topbar mode-${mode ?? 'unknown'}`}>
      {mode === 'live' && (
        <div className="live-strip" role="alert" data-testid="live-warning">
          {t('mode.live.warning')}
        </div>
      )}
      <div className="topbar-row">
        <div className="brand">
          <span className="brand-name">{t('app.title')}</span>
          <span className="brand-sub">{t('app.subtitle')}</span>
        </div>
        <div className="chips">
          <span className={`chip chip-mode chip-mode-${mode ?? 'unknown'}`} data-testid="trading-mode" title={t('header.mode')}>
            {t(modeKey(mode))}
          </span>
          {props.status?.engine.symbol && (
            <span className="chip chip-symbol" title={t('header.symbol')}>
              {props.status.engine.symbol}
            </span>
          )}
          <span className={`chip chip-engine chip-engine-${engineMode ?? 'unknown'}`} data-testid="engine-state" data-state={engineMode ?? ''} title={t('header.engine')}>
            <span className="chip-label">{t('header.engine')}</span> {t(engineKey(engineMode))}
          </span>
          <span className={`chip chip-conn conn-${props.conn}`} data-testid="conn-state" data-state={props.conn} title={connTitle}>
            <span className="dot" aria-hidden="true" />
            <span className="chip-label">{t('header.stream')}</span> {t(`conn.${props.conn}`)}
          </span>
        </div>
        <div className="topbar-actions">
          <div className="lang-switch" role="group" aria-label={t('header.language')}>
            {LANGS.map((l) => (
              <button key={l} type="button" className={l === lang ? 'active' : ''} aria-pressed={l === lang} onClick={() => setLang(l)} data-testid={`lang-${l}`}>
                {LANG_NAMES[l]}
              </button>
            ))}
          </div>
          <button type="button" className="btn btn-ghost" onClick={props.onLogout} data-testid="logout">
            {t('header.logout')}
          </button>
        </div>
      </div>
    </header>
  );
}
