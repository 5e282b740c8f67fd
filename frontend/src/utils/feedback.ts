/** The app's two ways of talking back around an action: ask before it, report after it. */
import { ElMessage, ElMessageBox } from 'element-plus'
import { errorMessage } from '@/api/http'

export interface ConfirmOptions {
  /** The confirm button's label ("Delete", "Roll back"). */
  confirm: string
  cancel?: string
  /** A red confirm button: for what cannot be undone. */
  danger?: boolean
}

/** Asks before an action; true when the user agreed, false when they cancelled or closed the box. */
export async function confirmAction(message: string, title: string, options: ConfirmOptions): Promise<boolean> {
  try {
    await ElMessageBox.confirm(message, title, {
      type: 'warning',
      confirmButtonText: options.confirm,
      cancelButtonText: options.cancel ?? 'Cancel',
      confirmButtonClass: options.danger ? 'el-button--danger' : undefined,
    })
    return true
  } catch {
    return false
  }
}

/** Runs an action, then says how it went: `success`, or the error's sentence. True when it worked. */
export async function reportAction(action: () => Promise<unknown>, success: string): Promise<boolean> {
  try {
    await action()
    ElMessage.success(success)
    return true
  } catch (e) {
    ElMessage.error(errorMessage(e))
    return false
  }
}
