"""Train the credit model the way a team would: a scikit-learn pipeline, saved with skops.

The pipeline one-hot encodes ``region`` itself and takes the raw columns by name, so cpmap
registers it as it is and feeds it exactly these columns (docs/byo-model.md).
"""

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

FEATURES = ["age", "income", "debt_ratio", "region"]

if __name__ == "__main__":
    train = pd.read_csv("data/customers.csv")
    holdout = pd.read_csv("data/holdout.csv")
    encode = ColumnTransformer([("region", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                               remainder="passthrough")
    model = Pipeline([("encode", encode),
                      ("forest", RandomForestClassifier(n_estimators=50, random_state=0))])
    model.fit(train[FEATURES], train["default"])
    with open("model.skops", "wb") as f:
        f.write(sio.dumps(model))
    print(f"model.skops: held-out accuracy {model.score(holdout[FEATURES], holdout['default']):.4f}")
