/** The ban mirror keys and change notice: a contract with the gateways, defined in `@meridian/protocol`. */
export {
  BAN_CHANGED_TOPIC,
  type BanChangedNotice,
  type BanKeys,
  BanNoticeOp,
  banKeys,
} from "@meridian/protocol";
