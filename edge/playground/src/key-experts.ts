import { h } from './dom.ts';

/**
 * The key-expert editor: rows of (layer or "*", expert ids). Ids are sent as typed (numbers where
 * they parse), so the API, not the page, decides what is out of range and says so.
 */
export interface KeyExpertEditor {
  element: HTMLElement;
  read(): Record<string, number[]> | undefined;
}

export function keyExpertEditor(numLayers: number, onChange: () => void): KeyExpertEditor {
  const rows = h('div', { class: 'ke-rows' });
  const addRow = (layer = '*', ids = '') => {
    const select = h('select', { 'aria-label': 'layer', 'data-ke': 'layer' }, h('option', { value: '*' }, '* (all layers)'));
    for (let l = 0; l < numLayers; l++) select.append(h('option', { value: String(l) }, `layer ${l}`));
    select.value = layer;
    const input = h('input', { type: 'text', 'data-ke': 'ids', placeholder: 'expert ids, e.g. 0, 3', 'aria-label': 'expert ids', inputmode: 'numeric', value: ids });
    const remove = h('button', { type: 'button', title: 'remove row', 'aria-label': 'remove row' }, '×');
    const row = h('div', { class: 'ke-row' }, select, input, remove);
    remove.addEventListener('click', () => {
      row.remove();
      onChange();
    });
    rows.append(row);
  };
  const add = h('button', { type: 'button', 'data-ke': 'add' }, '+ layer row');
  add.addEventListener('click', () => {
    addRow(rows.childElementCount === 0 ? '*' : '0');
    onChange();
  });
  rows.addEventListener('input', onChange);
  addRow();
  return {
    element: h('div', { class: 'ke' }, rows, add),
    read() {
      const out: Record<string, number[]> = {};
      for (const row of rows.querySelectorAll('.ke-row')) {
        const layer = (row.querySelector('select') as HTMLSelectElement).value;
        const text = (row.querySelector('input') as HTMLInputElement).value.trim();
        if (!text) continue;
        const ids = text.split(/[\s,]+/).filter(Boolean).map(Number);
        out[layer] = [...(out[layer] ?? []), ...ids];
      }
      return Object.keys(out).length ? out : undefined;
    },
  };
}
