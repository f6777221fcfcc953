//! Which executor carries out which action kind: the lifecycle of [`GraphRunner`], dispatched
//! by kind to the account, mailbox, access, notification and sweep executors. Apart from the
//! runner, so the executors use the runner's audited calls and the runner knows none of them.

use super::lifecycle::{ActionError, ActionRunner, Evidence, Execution, Restore};
use super::runner::{GraphRunner, target_text};
use super::{
    access, account, apps, auth_methods, block_ips, consents, devices, mailbox, notify, purge,
    sweep,
};
use serde_json::json;
use stanch_core::engine::PlannedAction;
use stanch_core::vocab::ActionKind;

impl ActionRunner for GraphRunner {
    async fn precheck(&self, action: &PlannedAction) -> Result<Evidence, ActionError> {
        let evidence = match action.action {
            ActionKind::RevokeSessions
            | ActionKind::DisableAccount
            | ActionKind::EnableAccount
            | ActionKind::ResetPassword
            | ActionKind::ConfirmCompromised => account::read_user(self, action).await?,
            ActionKind::DisableInboxRules => mailbox::read_rules(self, action).await?,
            ActionKind::BlockLegacyAuth => access::read_membership(self, action).await?,
            ActionKind::BlockIps => block_ips::read_location(self, action).await?,
            ActionKind::Notify => json!({}),
            ActionKind::SweepSignins => sweep::describe(action),
            ActionKind::PurgeMessages => purge::find_wave(self, action).await?,
            ActionKind::RemoveAuthMethods => auth_methods::read_methods(self, action).await?,
            ActionKind::RevokeAppConsent => consents::read_consents(self, action).await?,
            ActionKind::DisableDevices => devices::read_devices(self, action).await?,
            ActionKind::DisableApp => apps::read_app(self, action).await?,
        };
        Ok(Evidence(evidence))
    }

    async fn execute(
        &self,
        action: &PlannedAction,
        evidence: &Evidence,
    ) -> Result<Execution, ActionError> {
        match action.action {
            ActionKind::RevokeSessions => account::revoke(self, action, evidence).await,
            ActionKind::DisableAccount => account::set_enabled(self, action, evidence, false).await,
            ActionKind::EnableAccount => account::set_enabled(self, action, evidence, true).await,
            ActionKind::ResetPassword => account::reset_password(self, action, evidence).await,
            ActionKind::ConfirmCompromised => {
                account::confirm_compromised(self, action, evidence).await
            }
            ActionKind::DisableInboxRules => mailbox::disable_rules(self, action, evidence).await,
            ActionKind::BlockLegacyAuth => access::add_to_quarantine(self, action, evidence).await,
            ActionKind::BlockIps => block_ips::block_ips(self, action, evidence).await,
            ActionKind::Notify => notify::send(self, action).await,
            ActionKind::SweepSignins => sweep::sweep(self, action, evidence).await,
            ActionKind::PurgeMessages => purge::purge(self, action, evidence).await,
            ActionKind::RemoveAuthMethods => {
                auth_methods::remove_methods(self, action, evidence).await
            }
            ActionKind::RevokeAppConsent => consents::revoke(self, action, evidence).await,
            ActionKind::DisableDevices => devices::disable(self, action, evidence).await,
            ActionKind::DisableApp => apps::disable(self, action, evidence).await,
        }
    }

    async fn verify(
        &self,
        action: &PlannedAction,
        execution: &Execution,
    ) -> Result<(), ActionError> {
        match action.action {
            ActionKind::DisableAccount => account::verify_enabled(self, action, false).await,
            ActionKind::EnableAccount => account::verify_enabled(self, action, true).await,
            ActionKind::DisableInboxRules => {
                mailbox::verify_disabled(self, action, execution).await
            }
            ActionKind::BlockLegacyAuth => access::verify_membership(self, action, true).await,
            ActionKind::BlockIps => block_ips::verify_ranges(self, action, execution).await,
            ActionKind::PurgeMessages => purge::verify_purged(self, action, execution).await,
            ActionKind::RemoveAuthMethods => {
                auth_methods::verify_removed(self, action, execution).await
            }
            ActionKind::RevokeAppConsent => consents::verify_revoked(self, action, execution).await,
            ActionKind::DisableDevices => devices::verify_disabled(self, action, execution).await,
            ActionKind::DisableApp => apps::verify_disabled(self, action, execution).await,
            // The others leave nothing Graph can read back reliably (sessions die "within minutes").
            _ => Ok(()),
        }
    }

    async fn rollback(&self, action: &PlannedAction, restore: &Restore) -> Result<(), ActionError> {
        match action.action {
            ActionKind::DisableAccount => account::restore_enabled(self, action, restore).await,
            ActionKind::DisableInboxRules => mailbox::reenable_rules(self, action, restore).await,
            ActionKind::BlockLegacyAuth => {
                access::remove_from_quarantine(self, action, restore).await
            }
            ActionKind::BlockIps => block_ips::unblock_ips(self, action, restore).await,
            ActionKind::PurgeMessages => purge::restore_messages(self, action, restore).await,
            ActionKind::RevokeAppConsent => consents::restore(self, action, restore).await,
            ActionKind::DisableDevices => devices::reenable(self, action, restore).await,
            ActionKind::DisableApp => apps::reenable(self, action, restore).await,
            ActionKind::RemoveAuthMethods => Err(ActionError::Failed {
                action: action.action.to_string(),
                target: target_text(action),
                reason: format!(
                    "this action cannot be rolled back: {}",
                    auth_methods::NO_UNDO
                ),
            }),
            kind => Err(ActionError::Failed {
                action: kind.to_string(),
                target: target_text(action),
                reason: "this action cannot be rolled back".into(),
            }),
        }
    }
}
