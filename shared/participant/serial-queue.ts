/**
 * Runs async tasks one at a time, in the order they were queued; a failed task does
 * not stop the ones after it. Participants of different models in one page share one
 * queue, so their TensorFlow.js training and scoring never interleave on the device.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
