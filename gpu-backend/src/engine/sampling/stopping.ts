import type { FinishReason } from '../types.ts';

/** What the stopping criteria see of each row after its newest token was appended. */
export interface StopRow {
  outputTokenIds: readonly number[];
  maxTokens: number;
  /** Set when the row's StopStringMatcher found a stop string in the text so far. */
  stopStringMatched: boolean;
}

/** One rule: one boolean per row, and the finish reason it stands for. */
export interface StoppingCriterion {
  reason: FinishReason;
  check(rows: readonly StopRow[]): boolean[];
}

export function eosCriterion(eosTokenIds: readonly number[]): StoppingCriterion {
  const eos = new Set(eosTokenIds);
  return { reason: 'stop', check: (rows) => rows.map((r) => r.outputTokenIds.length > 0 && eos.has(r.outputTokenIds[r.outputTokenIds.length - 1])) };
}

export function maxTokensCriterion(): StoppingCriterion {
  return { reason: 'length', check: (rows) => rows.map((r) => r.outputTokenIds.length >= r.maxTokens) };
}

export function stopStringCriterion(): StoppingCriterion {
  return { reason: 'stop', check: (rows) => rows.map((r) => r.stopStringMatched) };
}

/** Applies criteria in order; the first that fires for a row gives its reason (null: keep going). */
export class StoppingCriteriaList {
  constructor(private readonly criteria: readonly StoppingCriterion[]) {}

  check(rows: readonly StopRow[]): (FinishReason | null)[] {
    const reasons: (FinishReason | null)[] = rows.map(() => null);
    for (const criterion of this.criteria) {
      criterion.check(rows).forEach((hit, i) => {
        if (hit && reasons[i] === null) reasons[i] = criterion.reason;
      });
    }
    return reasons;
  }
}

/** EOS and stop strings before length: a stop on the last allowed token is a 'stop', as in OpenAI. */
export function defaultStoppingCriteria(eosTokenIds: readonly number[]): StoppingCriteriaList {
  return new StoppingCriteriaList([eosCriterion(eosTokenIds), stopStringCriterion(), maxTokensCriterion()]);
}
