import type { ModelInfo } from '../../../shared/openai/responses.ts';
import { ApiFailure, listModels, streamChat } from './api.ts';
import { h } from './dom.ts';
import { errorSlot } from './error-slot.ts';
import { heatmap } from './heatmap.ts';
import { createPanel, type Panel } from './panel.ts';
import { bodyText, chatBody, curlSnippet, keyExpertSets, openaiSnippet } from './request.ts';
import { resultView, type ResultView } from './result.ts';
import { diffCells, runMetrics } from './stats.ts';

// The key lives in this tab's sessionStorage only: never in a URL, a log line or a copied snippet.
const KEY_STORAGE = 'pickban.apiKey';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const keyInput = $<HTMLInputElement>('api-key');
const modelSelect = $<HTMLSelectElement>('model');
const promptInput = $<HTMLTextAreaElement>('prompt');
const maxTokensInput = $<HTMLInputElement>('max-tokens');
const compareBox = $<HTMLInputElement>('compare');
const runButton = $<HTMLButtonElement>('run');

let models: ModelInfo[] = [];
let panels: Panel[] = [];
const results: ResultView[] = [resultView('A'), resultView('B')];
$('results').append(...results.map((r) => r.element));

const current = () => models.find((m) => m.id === modelSelect.value) ?? models[0];
const activeCount = () => (compareBox.checked ? 2 : 1);
const pageError = (slot: string) => document.querySelector<HTMLElement>(`body > header [data-error="${slot}"], main > .prompt [data-error="${slot}"]`);

function clearErrors() {
  for (const el of document.querySelectorAll<HTMLElement>('header .error, .prompt .error')) el.textContent = '';
  for (const p of panels) p.clearErrors();
}

function showError(err: unknown, panelIndex: number) {
  const failure = err instanceof ApiFailure ? err : new ApiFailure(0, err instanceof Error ? err.message : String(err));
  const text = failure.status ? `${failure.status}: ${failure.message}` : failure.message;
  const slot = errorSlot(failure.status, failure.param);
  if (panels[panelIndex]?.showError(slot, text)) return;
  const el = pageError(slot) ?? pageError('key')!;
  el.textContent = panels.length > 1 && compareBox.checked ? `${'AB'[panelIndex]}: ${text}` : text;
}

function requestBody(i: number) {
  const max = maxTokensInput.value.trim();
  return chatBody(current()?.id ?? '', promptInput.value, max ? Number(max) : undefined, panels[i].read());
}

/** The request preview under each panel: the exact JSON sent, or the same request as curl / OpenAI code. */
function renderRequests() {
  panels.forEach((panel, i) => {
    const box = panel.element.querySelector<HTMLElement>('.request')!;
    let format = box.querySelector<HTMLSelectElement>('select');
    if (!format) {
      format = h('select', { 'aria-label': 'request format', 'data-format': '' }, h('option', { value: 'json' }, 'request JSON'), h('option', { value: 'curl' }, 'curl'), h('option', { value: 'openai' }, 'OpenAI client (Node)'));
      const copy = h('button', { type: 'button', 'data-copy': '' }, 'Copy');
      copy.addEventListener('click', () => void copyText(box.querySelector('pre')!.textContent ?? '', copy));
      format.addEventListener('change', renderRequests);
      box.append(h('div', { class: 'row' }, format, copy), h('pre', { class: 'code', 'data-request': 'AB'[i] }));
    }
    const body = requestBody(i);
    const text = { json: () => bodyText(body), curl: () => curlSnippet(location.origin, body), openai: () => openaiSnippet(location.origin, body) }[format.value as 'json' | 'curl' | 'openai']();
    box.querySelector('pre')!.textContent = text;
  });
}

async function copyText(text: string, button: HTMLButtonElement) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

function buildPanels() {
  const model = current();
  if (!model) return;
  panels = ['A', 'B'].map((name) => createPanel(name, model.routing, renderRequests));
  $('panels').replaceChildren(...panels.map((p) => p.element));
  $('limits').textContent = `${model.routing.num_layers} layers × ${model.routing.num_experts} experts, top_k ${model.routing.default_top_k} (max ${model.routing.max_top_k})`;
  applyCompare();
  renderRequests();
}

function applyCompare() {
  const n = activeCount();
  panels.forEach((p, i) => (p.element.hidden = i >= n));
  results.forEach((r, i) => (r.element.hidden = i >= n));
  $('diff').hidden = true;
  document.body.classList.toggle('comparing', n > 1);
}

async function connect() {
  clearErrors();
  const key = keyInput.value.trim();
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    models = await listModels(key);
  } catch (err) {
    showError(err, -1);
    return;
  }
  modelSelect.replaceChildren(...models.map((m) => h('option', { value: m.id }, m.id)));
  buildPanels();
  runButton.disabled = false;
}

async function runOne(i: number) {
  const view = results[i];
  const model = current()!;
  const body = requestBody(i);
  view.start();
  try {
    const result = await streamChat(bodyText(body), keyInput.value.trim(), (t) => view.append(t));
    const keySets = keyExpertSets(body.routing as Parameters<typeof keyExpertSets>[0], model.routing.num_layers);
    view.finish(result.routing, result.totalSeconds, keySets, model.routing.max_top_k);
    return result;
  } catch (err) {
    view.fail('failed: see the message by the control it concerns');
    showError(err, i);
    return undefined;
  }
}

/** Compare runs A then B, not both at once, so each tokens/s is measured without the other competing. */
async function run() {
  if (!current()) await connect();
  if (!current()) return;
  clearErrors();
  runButton.disabled = true;
  document.body.dataset.running = 'true';
  try {
    const outcomes = [];
    for (let i = 0; i < activeCount(); i++) outcomes.push(await runOne(i));
    const [a, b] = outcomes;
    if (a?.routing?.counts && b?.routing?.counts) renderDiff(a.routing, b.routing, a.totalSeconds, b.totalSeconds);
  } finally {
    runButton.disabled = false;
    delete document.body.dataset.running;
  }
}

function renderDiff(a: NonNullable<Awaited<ReturnType<typeof streamChat>>['routing']>, b: typeof a, secondsA: number, secondsB: number) {
  const ma = runMetrics(a, secondsA);
  const mb = runMetrics(b, secondsB);
  const row = (label: string, va: string, vb: string) => h('tr', {}, h('th', {}, label), h('td', {}, va), h('td', {}, vb));
  const table = h('table', { class: 'compare', 'data-compare': '' },
    h('tr', {}, h('th', {}), h('th', {}, 'A'), h('th', {}, 'B')),
    row('tokens/s', ma.tokensPerSecond.toFixed(1), mb.tokensPerSecond.toFixed(1)),
    row('experts/token (prompt)', ma.expertsPerToken.prompt.toFixed(2), mb.expertsPerToken.prompt.toFixed(2)),
    row('experts/token (completion)', ma.expertsPerToken.completion.toFixed(2), mb.expertsPerToken.completion.toFixed(2)),
    row('experts/token (overall)', ma.expertsPerToken.overall.toFixed(2), mb.expertsPerToken.overall.toFixed(2)));
  const diff = $('diff');
  diff.replaceChildren(h('h2', {}, 'A − B'), table, heatmap(diffCells(a, b), { scale: 'diff', caption: 'Difference in share of tokens (orange: A selects more, blue: B selects more)' }));
  diff.hidden = false;
}

keyInput.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
$('connect').addEventListener('click', () => void connect());
keyInput.addEventListener('keydown', (e) => e.key === 'Enter' && void connect());
modelSelect.addEventListener('change', buildPanels);
compareBox.addEventListener('change', applyCompare);
for (const el of [promptInput, maxTokensInput]) el.addEventListener('input', renderRequests);
runButton.addEventListener('click', () => void run());
if (keyInput.value) void connect();
