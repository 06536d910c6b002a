import { describe, expect, it } from 'vitest';
import { mapAtMost } from '../src/at-most.js';

/** A task per item that the test ends by hand, noting how many ran at once. */
function controlled() {
  const ends = new Map<number, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const task = (item: number) =>
    new Promise<string>((resolve, reject) => {
      started.push(item);
      most = Math.max(most, ++running);
      ends.set(item, {
        resolve: (value) => (running--, resolve(value)),
        reject: (error) => (running--, reject(error)),
      });
    });
  const settle = async () => new Promise((resolve) => setImmediate(resolve));
  return { ends, started, task, settle, most: () => most };
}

describe('mapAtMost', () => {
  it('runs at most `limit` at once and returns the results in the order of the items', async () => {
    const t = controlled();
    const mapping = mapAtMost([1, 2, 3, 4, 5], 2, t.task);
    await t.settle();
    expect(t.started).toEqual([1, 2]);
    t.ends.get(2)!.resolve('two');
    await t.settle();
    expect(t.started).toEqual([1, 2, 3]);
    for (const item of [1, 3, 4, 5]) {
      await t.settle();
      t.ends.get(item)!.resolve(`#${item}`);
    }
    expect(await mapping).toEqual(['#1', 'two', '#3', '#4', '#5']);
    expect(t.most()).toBe(2);
  });

  it('starts nothing after a failure, awaits what is under way, then throws the failure', async () => {
    const t = controlled();
    let settled = false;
    const mapping = mapAtMost([1, 2, 3, 4], 2, t.task).finally(() => (settled = true));
    mapping.catch(() => undefined);
    await t.settle();
    t.ends.get(1)!.reject(new Error('layer 1 is cut short'));
    await t.settle();
    expect(t.started).toEqual([1, 2]);
    expect(settled).toBe(false);
    t.ends.get(2)!.resolve('two');
    await expect(mapping).rejects.toThrow('layer 1 is cut short');
    expect(t.started).toEqual([1, 2]);
  });

  it('takes no items', async () => {
    expect(await mapAtMost([], 4, () => Promise.resolve(1))).toEqual([]);
  });
});
