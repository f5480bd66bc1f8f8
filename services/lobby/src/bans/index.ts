export {
  BAN_CHANGED_TOPIC,
  type BanChangedNotice,
  type BanKeys,
  BanNoticeOp,
  banKeys,
} from "./ban-keys.js";
export {
  type AccountBan,
  type Ban,
  type BanBus,
  type BanRequest,
  BanService,
  type BanServiceOptions,
  type BanSnapshot,
  EXPIRY_ISSUER,
  MAX_BAN_ISSUER_LENGTH,
  MAX_BAN_REASON_LENGTH,
  MIN_EXPIRY_INTERVAL_MS,
  type MirrorRebuild,
} from "./ban-service.js";
export { type BanAddress, parseBanAddress } from "./ban-target.js";
