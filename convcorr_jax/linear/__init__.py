from convcorr_jax.linear.ridge import RidgeModel, cross_val_predict, cv_errors, cv_lambda, fit_cv, make_folds
from convcorr_jax.linear.ridge import fit as ridge_fit
from convcorr_jax.linear.ridge import predict as ridge_predict
from convcorr_jax.linear.svm import LinearSVM, cross_validate, fit_binary, fit_ova, mine_hard_negatives

__all__ = ["LinearSVM", "RidgeModel", "cross_val_predict", "cross_validate", "cv_errors", "cv_lambda", "fit_binary",
           "fit_cv", "fit_ova", "make_folds", "mine_hard_negatives", "ridge_fit", "ridge_predict"]
