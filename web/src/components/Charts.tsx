/** Time-series charts (lightweight-charts): mid with our bid/ask and fills, equity, inventory. */
import {
  ColorType,
  createChart,
  createSeriesMarkers,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  LineSeries,
  LineStyle,
  type SeriesMarker,
  TickMarkType,
  type Time,
  type UTCTimestamp,
  type WhitespaceData,
  type LineData,
} from 'lightweight-charts';
import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { FillItem, Status, Summary } from '../api/types';
import { appendPoint, type ChartData, EMPTY_CHART_DATA, framePoints, fromSeries, type Mark, placeMarks, type Point } from '../chartData';
import { useI18n } from '../i18n';
import type { ConnState } from '../stream/machine';
import type { FillMark } from '../stream/useLive';

export const RANGES: readonly { id: string; seconds: number | null }[] = [
  { id: '1m', seconds: 60 },
  { id: '5m', seconds: 300 },
  { id: '15m', seconds: 900 },
  { id: '1h', seconds: 3_600 },
  { id: '6h', seconds: 21_600 },
  { id: 'all', seconds: null },
];

const COLORS = {
  text: '#9aa7b4',
  grid: '#1c2530',
  mid: '#d7dde4',
  bid: '#2fbf71',
  ask: '#f0524f',
  equity: '#5aa9ff',
  inventory: '#f2b84b',
};

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function localTime(time: Time, withSeconds: boolean): string {
  const d = new Date((time as number) * 1000);
  return withSeconds ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function makeChart(el: HTMLElement): IChartApi {
  return createChart(el, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: 'transparent' }, textColor: COLORS.text, fontSize: 11, attributionLogo: false },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    rightPriceScale: { borderColor: COLORS.grid },
    timeScale: {
      borderColor: COLORS.grid,
      timeVisible: true,
      secondsVisible: true,
      tickMarkFormatter: (time: Time, kind: TickMarkType) => localTime(time, kind === TickMarkType.TimeWithSeconds),
    },
    localization: { timeFormatter: (time: Time) => localTime(time, true) },
    crosshair: { mode: 0 },
    // the range buttons choose the window; dragging would fight the live updates and the page scroll
    handleScroll: false,
    handleScale: false,
  });
}

type Line = ISeriesApi<'Line'>;
type Datum = LineData<Time> | WhitespaceData<Time>;

function toData(points: Point[]): Datum[] {
  return points.map((p) => (p.value === undefined ? { time: p.time as UTCTimestamp } : { time: p.time as UTCTimestamp, value: p.value }));
}

interface Charts {
  charts: IChartApi[];
  lines: Record<keyof ChartData, Line>;
  markers: ISeriesMarkersPluginApi<Time>;
}

function build(price: HTMLElement, equity: HTMLElement, inventory: HTMLElement): Charts {
  const pc = makeChart(price);
  const ec = makeChart(equity);
  const ic = makeChart(inventory);
  const mid = pc.addSeries(LineSeries, { color: COLORS.mid, lineWidth: 2, priceLineVisible: false, title: '' });
  const bid = pc.addSeries(LineSeries, { color: COLORS.bid, lineWidth: 1, lineStyle: LineStyle.Dashed, priceLineVisible: false, lastValueVisible: false });
  const ask = pc.addSeries(LineSeries, { color: COLORS.ask, lineWidth: 1, lineStyle: LineStyle.Dashed, priceLineVisible: false, lastValueVisible: false });
  const eq = ec.addSeries(LineSeries, { color: COLORS.equity, lineWidth: 2, priceLineVisible: false });
  const inv = ic.addSeries(LineSeries, { color: COLORS.inventory, lineWidth: 2, priceLineVisible: false });
  return {
    charts: [pc, ec, ic],
    lines: { mid, bid, ask, equity: eq, inventory: inv },
    markers: createSeriesMarkers(mid, []),
  };
}

function markersFor(data: ChartData, marks: Mark[]): SeriesMarker<Time>[] {
  const times = data.mid.filter((p) => p.value !== undefined).map((p) => p.time);
  return placeMarks(times, marks).map((m) => {
    const marker: SeriesMarker<Time> = {
      time: m.time as UTCTimestamp,
      position: m.side === 'buy' ? 'belowBar' : 'aboveBar',
      shape: m.side === 'buy' ? 'arrowUp' : 'arrowDown',
      color: m.side === 'buy' ? COLORS.bid : COLORS.ask,
      size: 0.7,
    };
    if (m.count > 1) marker.text = String(m.count);
    return marker;
  });
}

/** Show the selected range ending at the newest point (or everything when it is shorter). */
function frame(c: Charts, data: ChartData, seconds: number | null): void {
  const last = data.mid[data.mid.length - 1]?.time;
  const first = data.mid[0]?.time;
  for (const chart of c.charts) {
    const scale = chart.timeScale();
    if (seconds === null || last === undefined || first === undefined || last - first <= seconds) {
      scale.fitContent();
    } else {
      scale.setVisibleRange({ from: (last - seconds) as UTCTimestamp, to: last as UTCTimestamp });
    }
  }
}

export function ChartsPanel(props: {
  status: Status | null;
  summary: Summary | null;
  frameSeq: number;
  fillMarks: FillMark[];
  fillSeq: number;
  conn: ConnState;
}) {
  const { t } = useI18n();
  const [range, setRange] = useState<string>('5m');
  const [error, setError] = useState<string | null>(null);
  const [empty, setEmpty] = useState(true);
  const priceEl = useRef<HTMLDivElement>(null);
  const equityEl = useRef<HTMLDivElement>(null);
  const inventoryEl = useRef<HTMLDivElement>(null);
  const charts = useRef<Charts | null>(null);
  const data = useRef<ChartData>(EMPTY_CHART_DATA);
  const skewMs = useRef(0);
  const historyMarks = useRef<Mark[]>([]);

  useEffect(() => {
    if (!priceEl.current || !equityEl.current || !inventoryEl.current) return undefined;
    const built = build(priceEl.current, equityEl.current, inventoryEl.current);
    charts.current = built;
    return () => {
      built.charts.forEach((c) => c.remove());
      charts.current = null;
    };
  }, []);

  const refreshMarkers = () => {
    const c = charts.current;
    if (!c) return;
    const live: Mark[] = props.fillMarks.map((m) => ({ id: m.tradeId, side: m.side, timeNs: m.timeNs }));
    c.markers.setMarkers(markersFor(data.current, [...historyMarks.current, ...live]));
  };

  // history: on range change and after every reconnect
  const reconnectKey = props.conn === 'connected' ? 'up' : 'down';
  useEffect(() => {
    if (reconnectKey !== 'up') return undefined;
    const controller = new AbortController();
    const seconds = RANGES.find((r) => r.id === range)?.seconds ?? null;
    const nowNs = (Date.now() + skewMs.current) * 1e6;
    const load = async () => {
      try {
        const [series, fills] = await Promise.all([
          endpoints.series(seconds === null ? null : nowNs - seconds * 1e9, 800),
          endpoints.fills(200, 0).catch(() => ({ items: [] as FillItem[] })),
        ]);
        if (controller.signal.aborted) return;
        const lastTs = series.ts_ns[series.ts_ns.length - 1];
        if (lastTs !== undefined) {
          const skew = lastTs / 1e6 - Date.now();
          skewMs.current = Math.abs(skew) > 5_000 ? skew : 0;
        }
        data.current = fromSeries(series);
        historyMarks.current = fills.items.map((f) => ({ id: f.trade_id, side: f.side, timeNs: f.ts_ns }));
        const c = charts.current;
        if (c) {
          (Object.keys(c.lines) as (keyof ChartData)[]).forEach((k) => c.lines[k].setData(toData(data.current[k])));
          refreshMarkers();
          frame(c, data.current, seconds);
        }
        setEmpty(data.current.mid.length === 0);
        setError(null);
      } catch (e) {
        // unreachable server: keep the lines; the next reconnect reloads them
        if (!controller.signal.aborted && e instanceof ApiError) setError(e.message);
      }
    };
    void load();
    return () => controller.abort();
  }, [range, reconnectKey]);

  // live: one point per stream frame
  useEffect(() => {
    const c = charts.current;
    if (!c || !props.status || props.frameSeq === 0) return;
    const time = Math.floor((Date.now() + skewMs.current) / 1000);
    const points = framePoints(time, props.status, props.summary);
    (Object.keys(points) as (keyof ChartData)[]).forEach((k) => {
      const p = points[k];
      if (appendPoint(data.current[k], p) !== 'ignored') {
        c.lines[k].update(toData([p])[0] as Datum);
      }
    });
    frame(c, data.current, RANGES.find((r) => r.id === range)?.seconds ?? null);
    if (empty && data.current.mid.length > 0) setEmpty(false);
  }, [props.frameSeq]);

  useEffect(refreshMarkers, [props.fillSeq, props.frameSeq]);

  return (
    <section className="panel charts" aria-label={t('chart.price')}>
      <div className="panel-head">
        <h2>{t('chart.price')}</h2>
        <div className="range" role="group" aria-label={t('chart.range')}>
          {RANGES.map((r) => (
            <button key={r.id} type="button" className={r.id === range ? 'active' : ''} aria-pressed={r.id === range} onClick={() => setRange(r.id)} data-testid={`range-${r.id}`}>
              {r.id === 'all' ? t('chart.all') : r.id}
            </button>
          ))}
        </div>
      </div>
      <div className="legend">
        <span className="lg lg-mid">{t('chart.mid')}</span>
        <span className="lg lg-bid">{t('chart.bid')}</span>
        <span className="lg lg-ask">{t('chart.ask')}</span>
        <span className="lg lg-buy">▲ {t('chart.buyFill')}</span>
        <span className="lg lg-sell">▼ {t('chart.sellFill')}</span>
      </div>
      {error && <div className="inline-error">{t('chart.error', { error })}</div>}
      {empty && !error && <div className="inline-note">{t('chart.empty')}</div>}
      <div className="chart chart-price" ref={priceEl} data-testid="chart-price" />
      <div className="chart-pair">
        <div>
          <h3>{t('chart.equity')}</h3>
          <div className="chart chart-small" ref={equityEl} data-testid="chart-equity" />
        </div>
        <div>
          <h3>{t('chart.inventory')}</h3>
          <div className="chart chart-small" ref={inventoryEl} data-testid="chart-inventory" />
        </div>
      </div>
    </section>
  );
}
