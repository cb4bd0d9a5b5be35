//! Cryptographic functions: key checks (usage flags, allowed mechanisms, visibility), then the
//! mechanism family does the work. The hot path reads the cached object and parsed key; it
//! touches neither the store nor a key schedule.

use super::Library;
use super::audit::Call;
use super::session::{Active, Ops, Out, Session, Step};
use super::slot::Who;
use crate::error::{Error, Result};
use crate::kms::Origin as KmsOrigin;
use crate::kms::rate_limit::Group;
use crate::mechanism::{self, Cipher, LoadedKey, Mechanism};
use crate::object::Object;
use crate::object::attribute::{Attributes, Template, decode_ulong};
use crate::object::rules::{self, Origin};
use crate::vendor::{CKA_KMS_IMPORT_TOKEN, CKA_KMS_KEY_ID, CKM_KMS_ENVELOPE};
use cryptoki_sys::*;
use std::sync::Arc;

/// Which call of an operation is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Single,
    Update,
    Final,
}

/// Ends an operation after a final step or any failure; a length query or a short buffer
/// leaves it active.
fn settle<T: ?Sized>(slot: &mut Option<Active<T>>, step: Step, last: bool) -> Result<usize> {
    match step {
        Step::Continue(r) => r,
        Step::Done(r) => {
            if last || r.is_err() {
                *slot = None;
            }
            r
        }
    }
}

/// The active operation in `slot`, marked multi-part.
fn multi<T: ?Sized>(slot: &mut Option<Active<T>>) -> Result<&mut Active<T>> {
    let a = slot.as_mut().ok_or(Error::OperationNotInitialized)?;
    a.multi = true;
    Ok(a)
}

/// The active operation in `slot` for a single-part call.
fn single<T: ?Sized>(slot: &mut Option<Active<T>>) -> Result<&mut Active<T>> {
    let a = slot.as_mut().ok_or(Error::OperationNotInitialized)?;
    if a.multi {
        return Err(Error::OperationActive);
    }
    Ok(a)
}

/// Refuses a template that names a class or key type other than the one being made. A
/// template asking for `CKK_EC` on the SM2 curve gets a `CKK_SM2` key, which is what it means.
fn expect_class_and_type(template: &Template, class: CK_OBJECT_CLASS, kt: Option<CK_KEY_TYPE>) -> Result<()> {
    if template.get_ulong(CKA_CLASS)?.is_some_and(|c| c != class) {
        return Err(Error::TemplateInconsistent);
    }
    if let (Some(want), Some(kt)) = (template.get_ulong(CKA_KEY_TYPE)?, kt)
        && want != kt
        && !(want == CKK_EC && kt == crate::vendor::CKK_SM2)
    {
        return Err(Error::TemplateInconsistent);
    }
    Ok(())
}

impl Library {
    fn check_mechanism(&self, session: &Session, ty: CK_MECHANISM_TYPE) -> Result<()> {
        if self.supports(session.token.slot_id, ty)? { Ok(()) } else { Err(Error::MechanismInvalid) }
    }

    /// A key usable for `usage` with mechanism `mech`; `invalid` is the error for a handle that
    /// does not name a visible key.
    fn usable_key(
        &self,
        session: &Session,
        call: &mut Call,
        handle: CK_OBJECT_HANDLE,
        usage: CK_ATTRIBUTE_TYPE,
        mech: CK_MECHANISM_TYPE,
        invalid: Error,
    ) -> Result<(Arc<Object>, Arc<LoadedKey>)> {
        call.mechanism = Some(mech);
        let obj = match self.visible_object(session, handle) {
            Ok(o) if o.is_key() => o,
            Ok(_) | Err(Error::ObjectHandleInvalid) => return Err(invalid),
            Err(e) => return Err(e),
        };
        call.key(&obj);
        call.event = event_for(usage, obj.class, mech);
        let obj = match obj.key_id() {
            Some(_) => {
                self.throttle(Group::crypto(obj.class == CKO_SECRET_KEY))?;
                match session.token.ready_for_use(obj, call.now()) {
                    Err(Error::ObjectHandleInvalid) => return Err(invalid),
                    r => r?,
                }
            }
            None => obj,
        };
        if !obj.flag(usage) {
            return Err(Error::KeyFunctionNotPermitted);
        }
        if let Some(list) = obj.attrs().get(CKA_ALLOWED_MECHANISMS).filter(|l| !l.is_empty()) {
            let allowed = list.chunks(std::mem::size_of::<CK_ULONG>()).any(|c| decode_ulong(c) == Ok(mech));
            if !allowed {
                return Err(Error::MechanismInvalid);
            }
        }
        let key = session.token.key_material(&obj)?;
        Ok((obj, key))
    }

    /// Checks early that the objects a template describes may be made in this session, before
    /// any expensive key generation.
    fn check_template_writable(
        &self,
        session: &Session,
        template: &Template,
        private_default: bool,
    ) -> Result<()> {
        let on_token = template.get_bool(CKA_TOKEN)?.unwrap_or(false);
        let private = template.get_bool(CKA_PRIVATE)?.unwrap_or(private_default);
        self.check_writable(session, on_token, private)
    }

    /// The versions a key opens data with; the envelope format needs a managed key.
    fn versions_for(
        &self,
        session: &Session,
        obj: &Object,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<Arc<mechanism::Versions>> {
        if mechanism::is_kms_mechanism(mech) && obj.key_id().is_none() {
            return Err(Error::KeyTypeInconsistent);
        }
        session.token.key_versions(obj)
    }

    /// The record of a call that made a key names the managed key it became.
    pub(super) fn note_created(&self, s: &Session, call: &mut Call, handle: CK_OBJECT_HANDLE) {
        if let Ok(obj) = self.visible_object(s, handle) {
            call.key(&obj);
        }
    }

    fn so(&self, session: &Session) -> bool {
        session.token.who() == Who::So
    }

    // --- Encryption -------------------------------------------------------------------------

    /// Starts the cipher operation `pick` selects (encryption or decryption).
    fn cipher_init(
        &self,
        h: CK_SESSION_HANDLE,
        function: &'static str,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        usage: CK_ATTRIBUTE_TYPE,
        pick: fn(&mut Ops) -> &mut Option<Active<dyn Cipher>>,
    ) -> Result<()> {
        let s = self.session(h)?;
        let event = event_for(usage, CKO_SECRET_KEY, mech.ty);
        self.audited(&s.token, function, event, |call| self.cipher_start(&s, call, mech, key, usage, pick))
    }

    fn cipher_start(
        &self,
        s: &Session,
        call: &mut Call,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        usage: CK_ATTRIBUTE_TYPE,
        pick: fn(&mut Ops) -> &mut Option<Active<dyn Cipher>>,
    ) -> Result<()> {
        call.mechanism = Some(mech.ty);
        if pick(&mut s.ops.lock()).is_some() {
            return Err(Error::OperationActive);
        }
        self.check_mechanism(s, mech.ty)?;
        let (obj, k) = self.usable_key(s, call, key, usage, mech.ty, Error::KeyHandleInvalid)?;
        let encrypt = usage == CKA_ENCRYPT;
        let op = if mechanism::is_kms_mechanism(mech.ty) || (!encrypt && obj.key_id().is_some()) {
            let versions = self.versions_for(s, &obj, mech.ty)?;
            if encrypt {
                mechanism::encrypt_init_versions(mech, &versions)?
            } else {
                mechanism::decrypt_init_versions(mech, &versions)?
            }
        } else if encrypt {
            mechanism::encrypt_init(mech, &k)?
        } else {
            mechanism::decrypt_init(mech, &k)?
        };
        // Decrypting with a CKA_ALWAYS_AUTHENTICATE key needs a context-specific login first.
        let needs_auth = usage == CKA_DECRYPT && obj.flag(CKA_ALWAYS_AUTHENTICATE);
        *pick(&mut s.ops.lock()) = Some(Active::new(op, key, needs_auth).tagged(call));
        Ok(())
    }

    /// One step of the cipher operation `pick` selects.
    #[allow(clippy::too_many_arguments)]
    fn cipher_step(
        &self,
        h: CK_SESSION_HANDLE,
        function: &'static str,
        event: &'static str,
        pick: fn(&mut Ops) -> &mut Option<Active<dyn Cipher>>,
        part: Part,
        input: &[u8],
        out: Out<'_>,
    ) -> Result<usize> {
        let s = self.session(h)?;
        self.audited_step(&s.token, function, event, |call| {
            let mut ops = s.ops.lock();
            let slot = pick(&mut ops);
            let a = if part == Part::Single { single(slot)? } else { multi(slot)? };
            call.resume(&a.tag);
            let max = match part {
                Part::Single => a.op.len(input.len()),
                Part::Update => a.op.update_len(input.len()),
                Part::Final => a.op.final_len(),
            };
            let step = a.produce(out, max, |op, buf| match part {
                Part::Single => op.run(input, buf),
                Part::Update => op.update(input, buf),
                Part::Final => op.finish(buf),
            });
            call.deferred = part == Part::Update || matches!(step, Step::Continue(_));
            settle(slot, step, part != Part::Update)
        })
    }

    pub fn encrypt_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.cipher_init(h, "C_EncryptInit", mech, key, CKA_ENCRYPT, |o| &mut o.encrypt)
    }

    pub fn encrypt(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_Encrypt", "Encrypt", |o| &mut o.encrypt, Part::Single, input, out)
    }

    pub fn encrypt_update(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_EncryptUpdate", "Encrypt", |o| &mut o.encrypt, Part::Update, input, out)
    }

    pub fn encrypt_final(&self, h: CK_SESSION_HANDLE, out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_EncryptFinal", "Encrypt", |o| &mut o.encrypt, Part::Final, &[], out)
    }

    pub fn decrypt_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.cipher_init(h, "C_DecryptInit", mech, key, CKA_DECRYPT, |o| &mut o.decrypt)
    }

    pub fn decrypt(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_Decrypt", "Decrypt", |o| &mut o.decrypt, Part::Single, input, out)
    }

    pub fn decrypt_update(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_DecryptUpdate", "Decrypt", |o| &mut o.decrypt, Part::Update, input, out)
    }

    pub fn decrypt_final(&self, h: CK_SESSION_HANDLE, out: Out<'_>) -> Result<usize> {
        self.cipher_step(h, "C_DecryptFinal", "Decrypt", |o| &mut o.decrypt, Part::Final, &[], out)
    }

    // --- Digests ----------------------------------------------------------------------------

    pub fn digest_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism) -> Result<()> {
        let s = self.session(h)?;
        if s.ops.lock().digest.is_some() {
            return Err(Error::OperationActive);
        }
        self.check_mechanism(&s, mech.ty)?;
        let op = mechanism::digest_init(mech)?;
        s.ops.lock().digest = Some(Active::new(op, CK_INVALID_HANDLE, false));
        Ok(())
    }

    pub fn digest(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Out<'_>) -> Result<usize> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let a = single(&mut ops.digest)?;
        let max = a.op.len();
        let step = a.produce(out, max, |op, buf| {
            op.update(input)?;
            op.finish(buf)
        });
        settle(&mut ops.digest, step, true)
    }

    pub fn digest_update(&self, h: CK_SESSION_HANDLE, input: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let r = multi(&mut ops.digest)?.op.update(input);
        if r.is_err() {
            ops.digest = None;
        }
        r
    }

    /// `C_DigestKey`: feeds a secret key's value to the active digest.
    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_DigestKey", "DigestKey", |call| {
            if s.ops.lock().digest.is_none() {
                return Err(Error::OperationNotInitialized);
            }
            let obj = match self.visible_object(&s, key) {
                Ok(o) => o,
                Err(Error::ObjectHandleInvalid) => return Err(Error::KeyHandleInvalid),
                Err(e) => return Err(e),
            };
            call.key(&obj);
            if obj.class != CKO_SECRET_KEY {
                return Err(Error::KeyIndigestible);
            }
            let obj = if obj.key_id().is_some() {
                self.throttle(Group::CryptoSymmetric)?;
                s.token.ready_for_use(obj, call.now())?
            } else {
                obj
            };
            let material = s.token.key_material(&obj)?;
            let bytes = material.secret_bytes().ok_or(Error::KeyIndigestible)?;
            let mut ops = s.ops.lock();
            let r = multi(&mut ops.digest)?.op.update(bytes);
            if r.is_err() {
                ops.digest = None;
            }
            r
        })
    }

    pub fn digest_final(&self, h: CK_SESSION_HANDLE, out: Out<'_>) -> Result<usize> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let a = multi(&mut ops.digest)?;
        let max = a.op.len();
        let step = a.produce(out, max, |op, buf| op.finish(buf));
        settle(&mut ops.digest, step, true)
    }

    // --- Signatures and MACs ----------------------------------------------------------------

    pub fn sign_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism, key: CK_OBJECT_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_SignInit", event_for(CKA_SIGN, CKO_PRIVATE_KEY, mech.ty), |call| {
            call.mechanism = Some(mech.ty);
            if s.ops.lock().sign.is_some() {
                return Err(Error::OperationActive);
            }
            self.check_mechanism(&s, mech.ty)?;
            let (obj, k) = self.usable_key(&s, call, key, CKA_SIGN, mech.ty, Error::KeyHandleInvalid)?;
            let op = mechanism::sign_init(mech, &k)?;
            let needs_auth = obj.flag(CKA_ALWAYS_AUTHENTICATE);
            s.ops.lock().sign = Some(Active::new(op, key, needs_auth).tagged(call));
            Ok(())
        })
    }

    pub fn sign(&self, h: CK_SESSION_HANDLE, data: &[u8], out: Out<'_>) -> Result<usize> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_Sign", "AsymmetricSign", |call| {
            let mut ops = s.ops.lock();
            let a = single(&mut ops.sign)?;
            call.resume(&a.tag);
            let max = a.op.len();
            let step = a.produce(out, max, |op, buf| op.sign(data, buf));
            call.deferred = matches!(step, Step::Continue(_));
            settle(&mut ops.sign, step, true)
        })
    }

    pub fn sign_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_SignUpdate", "AsymmetricSign", |call| {
            let mut ops = s.ops.lock();
            let a = multi(&mut ops.sign)?;
            call.resume(&a.tag);
            call.deferred = true;
            let r = a.op.update(data);
            if r.is_err() {
                ops.sign = None;
            }
            r
        })
    }

    pub fn sign_final(&self, h: CK_SESSION_HANDLE, out: Out<'_>) -> Result<usize> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_SignFinal", "AsymmetricSign", |call| {
            let mut ops = s.ops.lock();
            let a = multi(&mut ops.sign)?;
            call.resume(&a.tag);
            let max = a.op.len();
            let step = a.produce(out, max, |op, buf| op.finish(buf));
            call.deferred = matches!(step, Step::Continue(_));
            settle(&mut ops.sign, step, true)
        })
    }

    pub fn verify_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism, key: CK_OBJECT_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_VerifyInit", event_for(CKA_VERIFY, CKO_PUBLIC_KEY, mech.ty), |call| {
            call.mechanism = Some(mech.ty);
            if s.ops.lock().verify.is_some() {
                return Err(Error::OperationActive);
            }
            self.check_mechanism(&s, mech.ty)?;
            let (_, k) = self.usable_key(&s, call, key, CKA_VERIFY, mech.ty, Error::KeyHandleInvalid)?;
            let op = mechanism::verify_init(mech, &k)?;
            s.ops.lock().verify = Some(Active::new(op, key, false).tagged(call));
            Ok(())
        })
    }

    pub fn verify(&self, h: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_Verify", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let a = single(&mut ops.verify)?;
            call.resume(&a.tag);
            let r = a.op.verify(data, signature);
            ops.verify = None;
            r
        })
    }

    pub fn verify_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_VerifyUpdate", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let a = multi(&mut ops.verify)?;
            call.resume(&a.tag);
            call.deferred = true;
            let r = a.op.update(data);
            if r.is_err() {
                ops.verify = None;
            }
            r
        })
    }

    pub fn verify_final(&self, h: CK_SESSION_HANDLE, signature: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_VerifyFinal", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let a = multi(&mut ops.verify)?;
            call.resume(&a.tag);
            let r = a.op.finish(signature);
            ops.verify = None;
            r
        })
    }

    /// `C_VerifySignatureInit` (3.2): the signature comes first, the data after.
    pub fn verify_signature_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        signature: &[u8],
    ) -> Result<()> {
        let s = self.session(h)?;
        let event = event_for(CKA_VERIFY, CKO_PUBLIC_KEY, mech.ty);
        self.audited(&s.token, "C_VerifySignatureInit", event, |call| {
            call.mechanism = Some(mech.ty);
            if s.ops.lock().verify_signature.is_some() {
                return Err(Error::OperationActive);
            }
            self.check_mechanism(&s, mech.ty)?;
            let (_, k) = self.usable_key(&s, call, key, CKA_VERIFY, mech.ty, Error::KeyHandleInvalid)?;
            let op = mechanism::verify_init(mech, &k)?;
            s.ops.lock().verify_signature =
                Some((Active::new(op, key, false).tagged(call), signature.to_vec()));
            Ok(())
        })
    }

    pub fn verify_signature(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_VerifySignature", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let (a, sig) = ops.verify_signature.as_mut().ok_or(Error::OperationNotInitialized)?;
            call.resume(&a.tag);
            if a.multi {
                return Err(Error::OperationActive);
            }
            let r = a.op.verify(data, sig);
            ops.verify_signature = None;
            r
        })
    }

    pub fn verify_signature_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_VerifySignatureUpdate", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let (a, _) = ops.verify_signature.as_mut().ok_or(Error::OperationNotInitialized)?;
            call.resume(&a.tag);
            call.deferred = true;
            a.multi = true;
            let r = a.op.update(data);
            if r.is_err() {
                ops.verify_signature = None;
            }
            r
        })
    }

    /// Ends the `C_VerifySignature*` operation after a caller error this layer never saw (a null
    /// pointer, say): like every failure but a short buffer, it ends the operation. The
    /// session's `C_VerifyInit` operation is another one and stays.
    pub fn end_verify_signature(&self, h: CK_SESSION_HANDLE) {
        if let Ok(s) = self.session(h) {
            s.ops.lock().verify_signature = None;
        }
    }

    pub fn verify_signature_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        self.audited_step(&s.token, "C_VerifySignatureFinal", "AsymmetricVerify", |call| {
            let mut ops = s.ops.lock();
            let (mut a, sig) = ops.verify_signature.take().ok_or(Error::OperationNotInitialized)?;
            call.resume(&a.tag);
            a.op.finish(&sig)
        })
    }

    // --- Keys -------------------------------------------------------------------------------

    pub fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_GenerateKey", creation_event(&[template], "GenerateKey"), |call| {
            call.mechanism = Some(mech.ty);
            let handle = self.generate_key_in(&s, mech, template)?;
            self.note_created(&s, call, handle);
            Ok(handle)
        })
    }

    fn generate_key_in(
        &self,
        s: &Session,
        mech: &Mechanism,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.check_mechanism(s, mech.ty)?;
        template.validate()?;
        expect_class_and_type(template, CKO_SECRET_KEY, None)?;
        if template.contains(CKA_VALUE) {
            return Err(Error::TemplateInconsistent);
        }
        self.check_template_writable(s, template, true)?;
        let mut template = template.clone();
        if super::import::take_origin(&mut [&mut template])? == KmsOrigin::External {
            return Ok(self.create_external(s, mech, &[(CKO_SECRET_KEY, &template)])?[0]);
        }
        let template = &template;
        let generated = mechanism::generate_key(mech, template)?;
        expect_class_and_type(template, CKO_SECRET_KEY, Some(generated.key_type))?;
        let mut attrs = rules::new_object(
            template,
            CKO_SECRET_KEY,
            Some(generated.key_type),
            Origin::Generated(mech.ty),
            self.so(s),
        )?;
        attrs.extend(generated.attrs);
        Ok(self.add_objects(s, vec![attrs], KmsOrigin::Kms)?[0])
    }

    pub fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        public: &Template,
        private: &Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let s = self.session(h)?;
        let event = creation_event(&[public, private], "GenerateKeyPair");
        self.audited(&s.token, "C_GenerateKeyPair", event, |call| {
            call.mechanism = Some(mech.ty);
            let handles = self.generate_key_pair_in(&s, mech, public, private)?;
            self.note_created(&s, call, handles.1);
            Ok(handles)
        })
    }

    fn generate_key_pair_in(
        &self,
        s: &Session,
        mech: &Mechanism,
        public: &Template,
        private: &Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.check_mechanism(s, mech.ty)?;
        public.validate()?;
        private.validate()?;
        expect_class_and_type(public, CKO_PUBLIC_KEY, None)?;
        expect_class_and_type(private, CKO_PRIVATE_KEY, None)?;
        self.check_template_writable(s, public, false)?;
        self.check_template_writable(s, private, true)?;
        let (mut public, mut private) = (public.clone(), private.clone());
        if super::import::take_origin(&mut [&mut public, &mut private])? == KmsOrigin::External {
            let handles =
                self.create_external(s, mech, &[(CKO_PUBLIC_KEY, &public), (CKO_PRIVATE_KEY, &private)])?;
            return Ok((handles[0], handles[1]));
        }
        let (public, private) = (&public, &private);
        let pair = mechanism::generate_key_pair(mech, public, private)?;
        expect_class_and_type(public, CKO_PUBLIC_KEY, Some(pair.key_type))?;
        expect_class_and_type(private, CKO_PRIVATE_KEY, Some(pair.key_type))?;
        let so = self.so(s);
        let origin = Origin::Generated(mech.ty);
        let mut pub_attrs = rules::new_object(public, CKO_PUBLIC_KEY, Some(pair.key_type), origin, so)?;
        pub_attrs.extend(pair.public);
        let mut priv_attrs = rules::new_object(private, CKO_PRIVATE_KEY, Some(pair.key_type), origin, so)?;
        priv_attrs.extend(pair.private);
        let handles = self.add_objects(s, vec![pub_attrs, priv_attrs], KmsOrigin::Kms)?;
        Ok((handles[0], handles[1]))
    }

    /// An EXTERNAL key (`CKA_KMS_ORIGIN` in the template): its objects as the templates
    /// describe them, with no material until it is imported.
    fn create_external(
        &self,
        s: &Session,
        mech: &Mechanism,
        templates: &[(CK_OBJECT_CLASS, &Template)],
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let kt = mechanism::generated_key_type(mech.ty, templates[0].1)?;
        let mut sets = Vec::with_capacity(templates.len());
        for (class, template) in templates {
            if !template.get_bool(CKA_TOKEN)?.unwrap_or(false) {
                log::warn!("an EXTERNAL key is a managed key: its templates need CKA_TOKEN = true");
                return Err(Error::TemplateInconsistent);
            }
            // The sizes a generation would take from the template describe the material to come.
            let sizes = [CKA_VALUE_LEN, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT];
            let mut stripped = (*template).clone();
            for ty in sizes {
                stripped = stripped.without(ty);
            }
            let mut attrs = rules::new_object(&stripped, *class, Some(kt), Origin::Created, self.so(s))?;
            for ty in [CKA_VALUE_LEN, CKA_MODULUS_BITS] {
                if let Some(v) = template.get(ty) {
                    attrs.set(ty, v.to_vec());
                }
            }
            sets.push(attrs);
        }
        for a in &sets {
            self.check_writable(s, true, a.flag(CKA_PRIVATE))?;
        }
        self.throttle(crate::kms::rate_limit::Group::Create)?;
        s.token.create_managed_as(sets, s.handle, KmsOrigin::External, true)
    }

    /// The bytes `C_WrapKey` wraps: a secret key's value or a private key's PKCS#8 encoding.
    fn wrappable_material(&self, s: &Session, wrapping: &Object, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>> {
        let target = match self.visible_object(s, key) {
            Ok(o) => o,
            Err(Error::ObjectHandleInvalid) => return Err(Error::KeyHandleInvalid),
            Err(e) => return Err(e),
        };
        if !matches!(target.class, CKO_SECRET_KEY | CKO_PRIVATE_KEY) {
            return Err(if target.class == CKO_PUBLIC_KEY {
                Error::KeyNotWrappable
            } else {
                Error::KeyHandleInvalid
            });
        }
        if !target.flag(CKA_EXTRACTABLE) {
            return Err(Error::KeyUnextractable);
        }
        // A managed key's material leaves the token only while the key may be used: wrapping a
        // disabled key (or one pending deletion) is refused as C_DigestKey of it is.
        let target = if target.key_id().is_some() {
            s.token.ready_for_use(target, std::time::Instant::now())?
        } else {
            target
        };
        if target.flag(CKA_WRAP_WITH_TRUSTED) && !wrapping.flag(CKA_TRUSTED) {
            return Err(Error::KeyNotWrappable);
        }
        let mut all = target.attrs().clone();
        all.extend(s.token.key_secrets(&target)?);
        if target.class == CKO_SECRET_KEY {
            return Ok(all.get(CKA_VALUE).ok_or(Error::KeyNotWrappable)?.to_vec());
        }
        let kt = target.key_type.ok_or(Error::KeyNotWrappable)?;
        Ok(mechanism::private_key_to_pkcs8(kt, &all)?.to_vec())
    }

    pub fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: Out<'_>,
    ) -> Result<usize> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_WrapKey", event_for(CKA_WRAP, CKO_SECRET_KEY, mech.ty), |call| {
            call.mechanism = Some(mech.ty);
            call.deferred = matches!(out, Out::Query);
            self.wrap_key_in(&s, call, mech, wrapping, key, out)
        })
    }

    fn wrap_key_in(
        &self,
        s: &Session,
        call: &mut Call,
        mech: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: Out<'_>,
    ) -> Result<usize> {
        self.check_mechanism(s, mech.ty)?;
        let (wobj, wk) =
            self.usable_key(s, call, wrapping, CKA_WRAP, mech.ty, Error::WrappingKeyHandleInvalid)?;
        let material = zeroize::Zeroizing::new(self.wrappable_material(s, &wobj, key)?);
        let versions = match mech.ty {
            CKM_KMS_ENVELOPE => self.versions_for(s, &wobj, mech.ty)?,
            _ => Arc::new(mechanism::Versions(vec![(String::new(), wk)])),
        };
        match out {
            Out::Query => mechanism::wrap_len_versions(mech, &versions, material.len()),
            Out::Buf(buf) => {
                let wrapped = mechanism::wrap_versions(mech, &versions, &material)?;
                if wrapped.len() > buf.len() {
                    return Err(Error::BufferTooSmall(wrapped.len()));
                }
                buf[..wrapped.len()].copy_from_slice(&wrapped);
                Ok(wrapped.len())
            }
        }
    }

    pub fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_UnwrapKey", event_for(CKA_UNWRAP, CKO_SECRET_KEY, mech.ty), |call| {
            call.mechanism = Some(mech.ty);
            self.unwrap_key_in(&s, call, mech, unwrapping, wrapped, template)
        })
    }

    fn unwrap_key_in(
        &self,
        s: &Session,
        call: &mut Call,
        mech: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.check_mechanism(s, mech.ty)?;
        template.validate()?;
        // An import wrapping key (GetParametersForImport) unwraps only into the key it was
        // issued for: that is ImportKeyMaterial.
        if let Ok(wrapping) = self.visible_object(s, unwrapping)
            && wrapping.attrs().contains(CKA_KMS_IMPORT_TOKEN)
        {
            call.event = "ImportKeyMaterial";
            call.key_id = template.get(CKA_KMS_KEY_ID).and_then(|v| std::str::from_utf8(v).ok()).into();
            return self.import_by_unwrap(s, mech, &wrapping, wrapped, template);
        }
        let class = template.get_ulong(CKA_CLASS)?.ok_or(Error::TemplateIncomplete)?;
        let kt = template.get_ulong(CKA_KEY_TYPE)?.ok_or(Error::TemplateIncomplete)?;
        super::objects::check_key_class(class, kt)?;
        if class == CKO_PUBLIC_KEY || template.contains(CKA_VALUE) {
            return Err(Error::TemplateInconsistent);
        }
        let (uobj, uk) =
            self.usable_key(s, call, unwrapping, CKA_UNWRAP, mech.ty, Error::UnwrappingKeyHandleInvalid)?;
        self.check_template_writable(s, template, true)?;
        let mut bytes = if mech.ty == CKM_KMS_ENVELOPE || uobj.key_id().is_some() {
            mechanism::unwrap_versions(mech, &*self.versions_for(s, &uobj, mech.ty)?, wrapped)?
        } else {
            mechanism::unwrap(mech, &uk, wrapped)?
        };
        let mut attrs = rules::new_object(template, class, Some(kt), Origin::Unwrapped, self.so(s))?;
        if class == CKO_SECRET_KEY {
            // CKM_AES_KEY_WRAP zero-pads a key whose length is not a multiple of 8 (PKCS#11
            // §2.16): CKA_VALUE_LEN says how much of it is key.
            if let Some(len) = mechanism::value_len(template)?
                && mech.ty == CKM_AES_KEY_WRAP
                && len < bytes.len()
            {
                bytes.truncate(len);
            }
            attrs.set(CKA_VALUE, bytes.to_vec());
        } else {
            attrs.extend(mechanism::private_key_from_pkcs8(kt, &bytes)?);
        }
        mechanism::import(class, kt, &mut attrs).map_err(|e| match e {
            Error::AttributeValueInvalid => Error::WrappedKeyInvalid,
            e => e,
        })?;
        Ok(self.add_objects(s, vec![attrs], KmsOrigin::External)?[0])
    }

    pub fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        base: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        self.audited(&s.token, "C_DeriveKey", "DeriveKey", |call| {
            call.mechanism = Some(mech.ty);
            self.derive_key_in(&s, call, mech, base, template)
        })
    }

    fn derive_key_in(
        &self,
        s: &Session,
        call: &mut Call,
        mech: &Mechanism,
        base: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.check_mechanism(s, mech.ty)?;
        template.validate()?;
        expect_class_and_type(template, CKO_SECRET_KEY, None)?;
        if template.contains(CKA_VALUE) {
            return Err(Error::TemplateInconsistent);
        }
        let kt = template.get_ulong(CKA_KEY_TYPE)?.ok_or(Error::TemplateIncomplete)?;
        super::objects::check_key_class(CKO_SECRET_KEY, kt)?;
        let len = mechanism::value_len(template)?;
        if kt == CKK_AES && len.is_none() {
            return Err(Error::TemplateIncomplete);
        }
        let (bobj, bk) = self.usable_key(s, call, base, CKA_DERIVE, mech.ty, Error::KeyHandleInvalid)?;
        self.check_template_writable(s, template, true)?;
        let bytes = mechanism::derive(mech, &bk, len.unwrap_or(0))?;
        let origin = Origin::Derived {
            base_always_sensitive: bobj.flag(CKA_ALWAYS_SENSITIVE),
            base_never_extractable: bobj.flag(CKA_NEVER_EXTRACTABLE),
        };
        let mut attrs: Attributes =
            rules::new_object(template, CKO_SECRET_KEY, Some(kt), origin, self.so(s))?;
        attrs.set(CKA_VALUE, bytes.to_vec());
        mechanism::import(CKO_SECRET_KEY, kt, &mut attrs)?;
        Ok(self.add_objects(s, vec![attrs], KmsOrigin::Kms)?[0])
    }
}

/// The KMS action a cryptographic call with a key of `class` is: symmetric keys encrypt,
/// decrypt and make MACs; asymmetric ones are the KMS's Asymmetric* actions.
fn event_for(usage: CK_ATTRIBUTE_TYPE, class: CK_OBJECT_CLASS, mech: CK_MECHANISM_TYPE) -> &'static str {
    let symmetric = class == CKO_SECRET_KEY;
    match usage {
        CKA_ENCRYPT if symmetric => "Encrypt",
        CKA_ENCRYPT => "AsymmetricEncrypt",
        CKA_DECRYPT if symmetric => "Decrypt",
        CKA_DECRYPT => "AsymmetricDecrypt",
        CKA_SIGN if symmetric => "GenerateMac",
        CKA_SIGN => "AsymmetricSign",
        CKA_VERIFY if symmetric => "VerifyMac",
        CKA_VERIFY => "AsymmetricVerify",
        CKA_WRAP if mech == CKM_KMS_ENVELOPE => "Encrypt",
        CKA_WRAP => "WrapKey",
        CKA_UNWRAP if mech == CKM_KMS_ENVELOPE => "Decrypt",
        CKA_UNWRAP => "UnwrapKey",
        CKA_DERIVE => "DeriveKey",
        _ => "UseKey",
    }
}

/// A call that makes token keys makes managed keys: the KMS's `CreateKey`.
pub(super) fn creation_event(templates: &[&Template], otherwise: &'static str) -> &'static str {
    let on_token = templates.iter().any(|t| t.get_bool(CKA_TOKEN).ok().flatten().unwrap_or(false));
    if on_token { "CreateKey" } else { otherwise }
}
