-- The health fields of a patient's profile (POST /api/v1/users UPDATE_PROFILE: allergies, current medications,
-- health conditions) are PHI: stored as one JSON object sealed with the PHI key ring (src/crypto/phi.ts), like
-- the intake's PHI answers, and never in plaintext.
alter table patients add column health_sealed text;
