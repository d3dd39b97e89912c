import { describe, expect, it } from 'vitest';
import { changedValues, fieldSpec, FORM_LEVEL, parseField, serverErrors, toText } from '../src/forms';

const fields = ['symbol', 'gamma', 'sigma', 'order_qty', 'fee_floor', 'model', 'depth_ticks'];

describe('422 and 409 mapping', () => {
  it('puts each error on the field named by detail[].loc', () => {
    const detail = [
      { loc: ['body', 'gamma'], msg: 'Input should be greater than 0', type: 'greater_than' },
      { loc: ['body', 'sigma'], msg: 'Input should be less than or equal to 1000000', type: 'less_than_equal' },
    ];
    const errors = serverErrors(422, detail, fields);
    expect(errors.gamma).toEqual({ code: 'form.error.greater_than', text: 'Input should be greater than 0' });
    expect(errors.sigma?.code).toBe('form.error.less_than_equal');
    expect(errors[FORM_LEVEL]).toBeUndefined();
  });

  it('sends errors for fields the form does not show to the form level, naming the field', () => {
    const errors = serverErrors(422, [{ loc: ['body', 'gamma_typo'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }], fields);
    expect(errors[FORM_LEVEL]?.text).toBe('gamma_typo: Extra inputs are not permitted');
  });

  it('joins several errors on one field and keeps unknown error kinds untranslated', () => {
    const errors = serverErrors(
      422,
      [
        { loc: ['body', 'gamma'], msg: 'first', type: 'value_error' },
        { loc: ['body', 'gamma'], msg: 'second', type: 'value_error' },
      ],
      fields,
    );
    expect(errors.gamma).toEqual({ code: null, text: 'first; second' });
  });

  it('maps a 409 about the symbol to the symbol field and other answers to the form', () => {
    expect(serverErrors(409, 'the symbol cannot change while the engine is running', fields).symbol?.text).toMatch(/symbol/);
    expect(serverErrors(409, 'stop the engine before changing keys', ['api_key'])[FORM_LEVEL]?.text).toMatch(/stop the engine/);
    expect(serverErrors(500, undefined, fields)[FORM_LEVEL]?.text).toBe('HTTP 500');
  });
});

describe('field specs and parsing', () => {
  it('reads kinds from the JSON schema, including nullable numbers', () => {
    expect(fieldSpec('gamma', { type: 'number', description: 'risk aversion' })).toMatchObject({ kind: 'number', nullable: false, description: 'risk aversion' });
    expect(fieldSpec('order_qty', { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'null' }] })).toMatchObject({ kind: 'number', nullable: true });
    expect(fieldSpec('model', { type: 'string', enum: ['glft', 'as'] })).toMatchObject({ kind: 'enum', options: ['glft', 'as'] });
    expect(fieldSpec('fee_floor', { type: 'boolean' }).kind).toBe('boolean');
    expect(fieldSpec('depth_ticks', { type: 'integer' }).kind).toBe('integer');
  });

  it('parses numbers, refuses text, keeps bounds for the server', () => {
    const gamma = fieldSpec('gamma', { type: 'number' });
    expect(parseField(gamma, ' 0.25 ')).toEqual({ ok: true, value: 0.25 });
    expect(parseField(gamma, '-1')).toEqual({ ok: true, value: -1 });
    expect(parseField(gamma, 'abc')).toMatchObject({ ok: false, error: { code: 'form.notNumber' } });
    expect(parseField(gamma, '')).toMatchObject({ ok: false });
    const depth = fieldSpec('depth_ticks', { type: 'integer' });
    expect(parseField(depth, '2.5')).toMatchObject({ ok: false, error: { code: 'form.notInteger' } });
    const qty = fieldSpec('order_qty', { anyOf: [{ type: 'number' }, { type: 'null' }] });
    expect(parseField(qty, '')).toEqual({ ok: true, value: null });
    expect(parseField(fieldSpec('fee_floor', { type: 'boolean' }), 'false')).toEqual({ ok: true, value: false });
  });

  it('only changed values are sent', () => {
    expect(changedValues({ gamma: 0.1, sigma: 3, order_qty: null }, { gamma: 0.25, sigma: 3, order_qty: null })).toEqual({ gamma: 0.25 });
    expect(toText(null)).toBe('');
    expect(toText(0.5)).toBe('0.5');
  });
});
