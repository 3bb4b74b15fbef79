/**
 * The channel an update notifies (`store.notify`) when it stored, expired or withdrew a list: cache workers
 * (`vmcatcher_cache --worker`) wake up on it. In a module of its own so that the cache alone can import it.
 */
export const WORK_CHANNEL = 'vmcatcher_work';
