export {
  checkDates,
  type CrlPolicy,
  imageInstances,
  type VerifiedImageList,
  verifyImageList,
} from './check.js';
export {
  SUBSCRIPTION_STATUS,
  SubscriptionError,
  type SubscriptionErrorCode,
  type SubscriptionErrorContext,
  statusSeverity,
  worstStatus,
} from './errors.js';
export {
  createSubscriptions,
  type NewImageEvent,
  type SubscribeOptions,
  type SubscribeResult,
  type SubscriptionLogger,
  type Subscriptions,
  type SubscriptionsOptions,
  type SubscriptionUpdateResult,
  type UpdateOptions,
  type UpdateOutcome,
  type UpdateResult,
  type UpdateSelection,
} from './subscriptions.js';
