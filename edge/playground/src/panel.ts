import type { Routing, RoutingLimits } from '../../../shared/routing/schema.ts';
import { h } from './dom.ts';
import { keyExpertEditor } from './key-experts.ts';

/** One routing setting (A, or B in compare mode): its controls, the request it makes, its error slots. */
export interface Panel {
  element: HTMLElement;
  read(): Routing;
  /** Shows a message beside the control named by `slot`; false when this panel has no such control. */
  showError(slot: string, message: string): boolean;
  clearErrors(): void;
}

const errorSlot = (name: string) => h('p', { class: 'error', 'data-error': name, role: 'alert' });

interface Knob {
  name: 'lambda' | 'tau' | 'top_k' | 'min_experts';
  label: string;
  min: number;
  max: number;
  step: number;
  value: number;
}

/**
 * A knob is sent only while its box is ticked, so the model's or the profile's default applies
 * otherwise. The slider is bounded by the model's limits; the number box beside it is not, so a value
 * out of range can still be sent and the API's own refusal shown.
 */
function knobRow(knob: Knob, onChange: () => void) {
  const enabled = h('input', { type: 'checkbox', 'data-knob-on': knob.name, 'aria-label': `send ${knob.name}` });
  const range = h('input', { type: 'range', min: knob.min, max: knob.max, step: knob.step, value: knob.value, 'data-knob-range': knob.name, 'aria-label': knob.label });
  const num = h('input', { type: 'number', step: knob.step, value: knob.value, 'data-knob': knob.name, 'aria-label': `${knob.label} value` });
  range.addEventListener('input', () => {
    num.value = range.value;
    enabled.checked = true;
    onChange();
  });
  num.addEventListener('input', () => {
    range.value = num.value;
    enabled.checked = true;
    onChange();
  });
  enabled.addEventListener('change', onChange);
  const row = h('div', { class: 'knob' }, h('label', {}, enabled, ` ${knob.label}`), range, num, errorSlot(knob.name));
  return { row, name: knob.name, read: () => (enabled.checked ? Number(num.value) : undefined) };
}

export function createPanel(name: string, limits: RoutingLimits, onChange: () => void): Panel {
  const strategy = h('select', { 'data-control': 'strategy' });
  for (const s of limits.strategies) strategy.append(h('option', { value: s }, s));
  const profile = h('select', { 'data-control': 'profile' }, h('option', { value: '' }, '(none)'));
  for (const p of limits.profiles) profile.append(h('option', { value: p }, p));
  const renormalize = h('select', { 'data-control': 'renormalize' },
    h('option', { value: '' }, `model default (${limits.renormalize_default})`), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
  const knobs = [
    knobRow({ name: 'lambda', label: 'λ', min: 0, max: 1, step: 0.01, value: 1 }, onChange),
    knobRow({ name: 'tau', label: 'τ', min: 0, max: 1, step: 0.01, value: 0.9 }, onChange),
    knobRow({ name: 'top_k', label: 'top_k', min: 1, max: limits.max_top_k, step: 1, value: limits.default_top_k }, onChange),
    knobRow({ name: 'min_experts', label: 'min_experts', min: 1, max: limits.max_top_k, step: 1, value: 1 }, onChange),
  ];
  const keyExperts = keyExpertEditor(limits.num_layers, onChange);
  for (const el of [strategy, profile, renormalize]) el.addEventListener('change', onChange);

  const field = (label: string, control: HTMLElement, slot: string) => h('div', { class: 'field' }, h('label', {}, label, control), errorSlot(slot));
  const element = h('fieldset', { class: 'panel', 'data-panel': name },
    h('legend', {}, `Routing ${name}`),
    field('Strategy ', strategy, 'strategy'),
    field('Profile ', profile, 'profile'),
    ...knobs.map((k) => k.row),
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Key experts'), keyExperts.element, errorSlot('key_experts')),
    field('Renormalize ', renormalize, 'renormalize'),
    errorSlot('general'),
    h('div', { class: 'request' }),
  );

  return {
    element,
    read() {
      const routing: Routing = { strategy: strategy.value as Routing['strategy'] };
      for (const k of knobs) {
        const value = k.read();
        if (value !== undefined) routing[k.name] = value;
      }
      const ke = keyExperts.read();
      if (ke) routing.key_experts = ke;
      if (profile.value) routing.profile = profile.value;
      if (renormalize.value) routing.renormalize = renormalize.value === 'true';
      return routing;
    },
    showError(slot, message) {
      const el = element.querySelector<HTMLElement>(`[data-error="${slot}"]`);
      if (!el) return false;
      el.textContent = message;
      return true;
    },
    clearErrors() {
      for (const el of element.querySelectorAll('.error')) el.textContent = '';
    },
  };
}
