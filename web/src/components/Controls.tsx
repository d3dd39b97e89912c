/** Engine controls (stop and halt ask for confirmation) and the flatten progress. */
import { useState } from 'react';
import { ApiError } from '../api/client';
import { type ControlAction, endpoints } from '../api/endpoints';
import type { EngineMode, Status } from '../api/types';
import { fmtSize } from '../format';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import type { FlattenView } from '../stream/useLive';

const ACTIONS: readonly ControlAction[] = ['start', 'pause', 'resume', 'stop', 'halt'];
const CONFIRM: ReadonlySet<ControlAction> = new Set(['stop', 'halt']);

/** Whether `action` makes sense in engine mode `mode` (the engine's transition table). */
export function actionEnabled(action: ControlAction, mode: EngineMode | undefined): boolean {
  if (!mode) return false;
  switch (action) {
    case 'start':
      return mode === 'idle' || mode === 'stopped' || mode === 'halted';
    case 'pause':
      return mode === 'running';
    case 'resume':
      return mode === 'paused';
    case 'stop':
      return mode === 'reconciling' || mode === 'running' || mode === 'paused';
    case 'halt':
      return mode !== 'halted' && mode !== 'halting' && mode !== 'idle';
  }
}

function ConfirmDialog(props: { action: ControlAction; onYes(): void; onNo(): void }) {
  const { t } = useI18n();
  const title = `controls.confirm.${props.action}.title` as MessageKey;
  const body = `controls.confirm.${props.action}.body` as MessageKey;
  const label = t(`controls.${props.action}` as MessageKey);
  return (
    <div className="modal-backdrop" role="presentation" onClick={props.onNo}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-testid="confirm-dialog" onClick={(e) => e.stopPropagation()}>
        <h2 id="confirm-title">{t(title)}</h2>
        <p>{t(body)}</p>
        <div className="modal-actions">
          <button type="button" className="btn btn-ghost" onClick={props.onNo} data-testid="confirm-no" autoFocus>
            {t('controls.confirm.no')}
          </button>
          <button type="button" className={`btn btn-${props.action}`} onClick={props.onYes} data-testid="confirm-yes">
            {t('controls.confirm.yes', { action: label })}
          </button>
        </div>
      </div>
    </div>
  );
}

export function FlattenPanel(props: { flatten: FlattenView; lotSize: number | null }) {
  const { t } = useI18n();
  const f = props.flatten;
  if (!f.active && !f.done) return null;
  const toSize = (lots: number) => (props.lotSize === null ? `${lots} lots` : fmtSize(lots * props.lotSize));
  const remaining = Math.abs(f.positionLots);
  const progress = f.active ? (f.startLots > 0 ? 1 - remaining / f.startLots : 0) : 1;
  const phaseKey = `flatten.phase.${f.phase || 'starting'}` as MessageKey;
  const phase = ['cancelling', 'closing', 'backoff', 'starting'].includes(f.phase || 'starting') ? t(phaseKey) : f.phase;
  let text: string;
  let state: string;
  if (f.active) {
    text = t('flatten.active', { phase, attempt: f.attempt, position: toSize(f.positionLots) });
    state = 'active';
  } else if (f.done?.dust) {
    text = t('flatten.dust', { position: toSize(f.done.positionLots) });
    state = 'dust';
  } else {
    text = t('flatten.flat');
    state = 'flat';
  }
  return (
    <div className={`flatten flatten-${state}`} data-testid="flatten" data-state={state} role="status">
      <div className="flatten-text">
        <strong>{t('flatten.title')}</strong> {text}
      </div>
      <div className="progress" aria-hidden="true">
        <div className="progress-bar" style={{ width: `${Math.round(Math.min(1, Math.max(0, progress)) * 100)}%` }} />
      </div>
    </div>
  );
}

export function Controls(props: {
  status: Status | null;
  flatten: FlattenView;
  lotSize: number | null;
  onStatus(status: Status): void;
}) {
  const { t } = useI18n();
  const [pending, setPending] = useState<ControlAction | null>(null);
  const [confirming, setConfirming] = useState<ControlAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const mode = props.status?.engine.mode;
  const blocker = props.status?.start_blocker;

  const run = async (action: ControlAction) => {
    setConfirming(null);
    setPending(action);
    setError(null);
    try {
      props.onStatus(await endpoints.control(action));
    } catch (e) {
      const message = e instanceof ApiError ? e.message : String(e);
      setError(t('controls.failed', { action: t(`controls.${action}` as MessageKey), error: message }));
    } finally {
      setPending(null);
    }
  };
  const click = (action: ControlAction) => (CONFIRM.has(action) ? setConfirming(action) : void run(action));

  return (
    <section className="controls" aria-label={t('controls.title')}>
      <div className="control-buttons">
        {ACTIONS.map((action) => (
          <button
            key={action}
            type="button"
            className={`btn btn-${action}`}
            disabled={pending !== null || !actionEnabled(action, mode) || (action === 'start' && Boolean(blocker))}
            onClick={() => click(action)}
            data-testid={`ctl-${action}`}
          >
            {t(`controls.${action}` as MessageKey)}
          </button>
        ))}
      </div>
      {blocker && <div className="inline-note">{t('controls.blocked', { reason: blocker })}</div>}
      {error && (
        <div className="inline-error" role="alert" data-testid="control-error">
          {error}
        </div>
      )}
      <FlattenPanel flatten={props.flatten} lotSize={props.lotSize} />
      {confirming && <ConfirmDialog action={confirming} onYes={() => void run(confirming)} onNo={() => setConfirming(null)} />}
    </section>
  );
}
