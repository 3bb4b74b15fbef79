export { SUBSCRIPTION_ERROR_CODES, type SubscriptionErrorCode } from './codes.js';
export { imageInstances } from './images.js';
export {
  checkStoredList,
  type RevalidateOptions,
  revalidateStoredLists,
  type StoredListCheck,
  withdrawalCode,
} from './revalidate.js';
export {
  createSubscriptions,
  type ListFetchOptions,
  type NewImageEvent,
  type PolicyRefusal,
  type SubscribeOptions,
  type SubscribeResult,
  type Subscriptions,
  type SubscriptionsOptions,
  type SubscriptionUpdateError,
  type SubscriptionUpdateResult,
  type UpdateOptions,
  type UpdateOutcome,
  type UpdateResult,
  type UpdateSelection,
} from './subscriptions.js';
